import type { NamingMode } from '../config/config';
import { namespaceSeparator, upstreamNamePrefix } from './naming';

/** One upstream of a view, with the instructions its server sent in its initialize result, if any. */
export type UpstreamInstructions = { upstream: string; instructions?: string };

/**
 * The instructions a connection's `initialize` gives: the virtual server's own description, then
 * what its upstreams' servers say about using their tools, since a model behind the hub should
 * know what it would know connected directly. With one upstream its text follows as it is; with
 * several, each under a heading naming the upstream and how its tools are named here, because an
 * upstream's text speaks of its tools by their own names. Undefined when there is nothing to say.
 */
export function composeInstructions(description: string | undefined, upstreams: readonly UpstreamInstructions[], naming: NamingMode): string | undefined {
  const parts = description ? [description] : [];
  const given = upstreams.filter((entry): entry is Required<UpstreamInstructions> => (entry.instructions ?? '').trim() !== '');
  if (upstreams.length === 1 && given.length === 1) {
    parts.push(given[0].instructions);
  } else {
    for (const { upstream, instructions } of given) {
      const names = naming === 'prefixed' ? `tools named ${upstreamNamePrefix(upstream)}${namespaceSeparator}<tool>` : 'tools under their own names';
      parts.push(`## ${upstream} (${names})\n\n${instructions.trim()}`);
    }
  }
  return parts.length > 0 ? parts.join('\n\n') : undefined;
}
