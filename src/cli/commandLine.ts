import { parseArgs } from 'node:util';
import { importOptions, importUsage } from './importCommand';
import { activityUsage } from './activityCommand';
import { loginUsage } from './loginCommand';

/** The CLI's commands; each takes `-h`/`--help`. */
export const commands = ['serve', 'import', 'schema', 'login', 'activity'] as const;
export type Command = (typeof commands)[number];

/** What a command line asks for, before any command's own flags are read. */
export type CommandLine =
  | { kind: 'help'; command?: Command }
  | { kind: 'version' }
  | { kind: 'run'; command: Command; args: string[] }
  | { kind: 'usage-error'; message: string };

export const schemaUsage = '  mcp-session-hub schema                    print the JSON schema of the hub config';

const isCommand = (word: string | undefined): word is Command => (commands as readonly string[]).includes(word ?? '');

/**
 * `-h`/`--help` anywhere before `--` asks for the command's help, whatever else is on the line: a
 * newcomer adds it to a command that failed to find out why. No command at all is a usage error:
 * serving (and writing token files into the home folder) is what `serve` is for.
 */
export function readCommandLine(argv: readonly string[]): CommandLine {
  const [first, ...rest] = argv;
  if (first === undefined) return { kind: 'usage-error', message: 'no command given (`mcp-session-hub serve` runs the hub)' };
  if (first === '-v' || first === '--version') return { kind: 'version' };
  if (first === '-h' || first === '--help' || first === 'help') {
    const topic = rest[0];
    if (topic === undefined) return { kind: 'help' };
    return isCommand(topic) ? { kind: 'help', command: topic } : { kind: 'usage-error', message: `no help for '${topic}': commands are ${commands.join(', ')}` };
  }
  if (!isCommand(first)) return { kind: 'usage-error', message: `unknown command '${first}'` };
  const ownArgs = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (ownArgs.includes('-h') || ownArgs.includes('--help')) return { kind: 'help', command: first };
  return { kind: 'run', command: first, args: rest };
}

/** A command's help: `serve`'s is the whole usage (its options are most of it). */
export function commandHelp(command: Command | undefined, usage: string): string {
  if (command === 'import') return `Usage:\n${importUsage}\n\n${importOptions}`;
  if (command === 'login') return `Usage:\n${loginUsage}`;
  if (command === 'activity') return `Usage:\n${activityUsage}\n\nReads the audit trail in the hub's state folder (default: audit/ next to the token file).`;
  if (command === 'schema') return `Usage:\n${schemaUsage}\n\nPrints the hub config's JSON schema (the one VS Code validates hub.jsonc with) to stdout. Takes no options.`;
  return usage;
}

/** `schema` takes nothing; anything given is refused rather than ignored (throws parseArgs' own errors). */
export function refuseArguments(args: string[]): void {
  parseArgs({ args, options: {}, strict: true, allowPositionals: false });
}
