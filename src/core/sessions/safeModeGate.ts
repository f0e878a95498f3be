import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { NamedIdentifier } from './identifiers';
import { opaqueId, type OwnedIdentifier, type OwnershipLedger, type RemoteOwner } from './ownershipLedger';
import {
  callDigest,
  classifyTool,
  createdIds,
  identifiersOfCall,
  type ExistenceProbe,
  type SafeModeJournal,
  type SafeModeOutcome,
  type SafeModeTool,
  type SafeModeToolRule,
  type ToolKind,
} from './safeMode';
import { judgeIdentifier, type CanonicalForm, type Spelling } from './spelling';

/**
 * Safe mode's one entry point. `tools/call` reads: resolve, session, `admit`, forward, `settle`.
 *
 * - `judge` is the pure verdict on a call against a session's ledger: proceed, refuse, or ask.
 * - `admit` carries it out: asks the caller's human through `ask` where the verdict says so,
 *   learns through `probe` which of the paths a creating call names exist already, and judges
 *   again right before it lets the call go, so nothing that became another session's meanwhile
 *   slips through. What the call creates is reserved for the session at that moment, and `settle`
 *   keeps what the result shows was made and gives back the rest.
 *
 * Fail closed: an identifier the gate cannot put in a certain form is refused with the reason,
 * never skipped and never asked about; another session's thing, live or ended, is refused.
 */

/** A call as the gate sees it: the upstream's own tool, the rules that apply and how the upstream spells things. */
export type GateCall = {
  upstream: string;
  tool: SafeModeTool;
  args: Record<string, unknown> | undefined;
  rule: SafeModeToolRule | undefined;
  /** Safe mode guards this call. Off, what a creating call makes is still recorded. */
  enabled: boolean;
  spelling: Spelling;
  /** Canonical paths never owned: the upstream's roots and named folders, their ancestors, `/`. */
  unownable: ReadonlySet<string>;
  /** A read-only tool of this upstream that tells whether a path exists. */
  existenceProbe?: ExistenceProbe;
  /** Path arguments name things in a remote store: compared exactly, as names. */
  pathsAreNames?: boolean;
};

/** The session's part: its ledger and its journal of decisions. */
export type GateSession = { ledger: OwnershipLedger; journal: Pick<SafeModeJournal, 'add'> };

/** What the caller's human is asked. */
export type ApprovalQuestion = {
  upstream: string;
  tool: string;
  kind: ToolKind;
  reason: string;
  /** What the call would touch that the session does not own. */
  identifiers: readonly NamedIdentifier[];
  /** For a command tool: the command it runs. */
  command?: string;
  args: Record<string, unknown> | undefined;
  digest: string;
  /** Whether "Allow for this session" can mean anything: only identifiers can join a ledger. */
  sessionChoice: boolean;
};

/** The human's answer, or `undefined` when the calling client cannot be asked. */
export type ApprovalAnswer = 'once' | 'session' | 'deny' | 'unanswered';

export type GateHooks = {
  ask(question: ApprovalQuestion): Promise<ApprovalAnswer | undefined>;
  /** A read-only call to the same upstream (the session's own instance, for a per-session upstream). */
  probe(tool: string, args: Record<string, unknown>): Promise<CallToolResult>;
  /** Said when a call could not be asked: how its caller may allow it. */
  howToAllow?: string;
  now?: () => number;
};

/** One identifier the call names, with every form the server may read it in. */
export type JudgedIdentifier = NamedIdentifier & { forms: CanonicalForm[] };

export type Verdict =
  | { outcome: 'proceed'; kind: ToolKind; touched: JudgedIdentifier[]; creates: JudgedIdentifier[] }
  | { outcome: 'refuse'; kind: ToolKind; reason: string; identifiers: NamedIdentifier[] }
  | { outcome: 'ask'; kind: ToolKind; reason: string; identifiers: JudgedIdentifier[]; touched: JudgedIdentifier[]; creates: JudgedIdentifier[]; command?: string };

/** Most identifiers one call may name and still be judged: each is looked up against every folder owned on its upstream. */
export const maxJudgedIdentifiers = 1000;

export function describeIdentifier(identifier: NamedIdentifier): string {
  return `${identifier.kind} ${identifier.value}${identifier.at === '(anywhere)' ? '' : ` (argument ${identifier.at})`}`;
}

/** An identifier in a message: long ones cut, so a refusal stays readable. */
function shown(identifier: NamedIdentifier): string {
  const value = identifier.value.length > 200 ? `${identifier.value.slice(0, 200)}… (${identifier.value.length} characters)` : identifier.value;
  return `${identifier.kind} ${JSON.stringify(value)}`;
}

/** "path "/x" at /path (also name "y" at /from)". */
function listed(identifiers: readonly NamedIdentifier[]): string {
  const where = (identifier: NamedIdentifier) => (identifier.at === '(anywhere)' ? '' : ` (argument ${identifier.at})`);
  const [first, ...others] = identifiers;
  if (!first) return '';
  const also = others.slice(0, 4).map((identifier) => `${shown(identifier)}${where(identifier)}`);
  if (others.length > 4) also.push(`${others.length - 4} more`);
  return `${shown(first)}${where(first)}${also.length ? `; also ${also.join(', ')}` : ''}`;
}

/** The words for whoever owns a thing, never naming the session: its id may be a key that joins it. */
function ownerWords(owner: OwnershipLedger): string {
  const ending = owner.ending;
  if (!ending) return "another session owns it, and a session never acts on another's things";
  return `it belongs to a session that ended at ${new Date(ending.at).toISOString()}, and stays refused to every session until a human releases it (the hub's tree, dashboard or admin API)`;
}

/** The verdict on a call against the session's ledger, as things stand now. */
export function judge(call: GateCall, ledger: OwnershipLedger): Verdict {
  const kind = classifyTool(call.tool, call.rule);
  const name = `Safe mode refused '${call.tool.name}'`;
  if (kind === 'read' || kind === 'additive') return { outcome: 'proceed', kind, touched: [], creates: [] };
  const problem = ledger.storeProblem;
  if (problem !== undefined) {
    return { outcome: 'refuse', kind, identifiers: [], reason: `${name}: safe mode cannot trust who owns what: ${problem}. It refuses every call it must judge until that is fixed` };
  }
  if (kind === 'command') {
    const commandValue = call.rule?.commandArgument === undefined ? undefined : call.args?.[call.rule.commandArgument];
    const command = commandValue === undefined ? JSON.stringify(call.args ?? {}) : typeof commandValue === 'string' ? commandValue : JSON.stringify(commandValue);
    return {
      outcome: 'ask',
      kind,
      identifiers: [],
      touched: [],
      creates: [],
      command,
      reason: `${name}: it runs a command, and safe mode cannot see what a command touches`,
    };
  }
  // A GUID a creating call merely mentions (in a title, a note) is not what it acts on; a
  // modifying call is judged by every GUID anywhere, since any may be what it touches. An
  // unannotated tool with no telling name is judged by GUIDs and rules only: most such tools
  // read (`get_weather(city_name)`), and asking on every name would make safe mode unusable.
  const named = identifiersOfCall(call.tool, call.args, call.rule, kind !== 'guarded').filter((identifier) => kind !== 'create' || identifier.at !== '(anywhere)');
  if (named.length > maxJudgedIdentifiers) {
    return { outcome: 'refuse', kind, identifiers: named.slice(0, 5), reason: `${name}: it names ${named.length} identifiers, and safe mode judges at most ${maxJudgedIdentifiers} per call` };
  }
  const judged: JudgedIdentifier[] = [];
  for (const identifier of named) {
    const kindHere = call.pathsAreNames && identifier.kind === 'path' ? 'name' : identifier.kind;
    const verdict = judgeIdentifier(kindHere, identifier.value, call.spelling);
    if ('unjudgeable' in verdict) {
      return { outcome: 'refuse', kind, identifiers: [identifier], reason: `${name}: safe mode cannot judge ${listed([identifier])}: ${verdict.unjudgeable}` };
    }
    judged.push({ ...identifier, forms: verdict.forms });
  }
  for (const identifier of judged) {
    for (const form of identifier.forms) {
      const owner = ledger.foreignOwner(call.upstream, form);
      if (owner) return { outcome: 'refuse', kind, identifiers: [identifier], reason: `${name}: ${listed([identifier])}: ${ownerWords(owner)}` };
    }
  }
  // A creating call owns the new things it names; what it refers to must be the session's own.
  const touched = kind === 'create' ? judged.filter((identifier) => !identifier.own) : judged;
  const creates = kind === 'create' ? judged.filter((identifier) => identifier.own) : [];
  const unowned = touched.filter((identifier) => !identifier.forms.every((form) => ledger.owns(call.upstream, form)));
  if (unowned.length > 0) {
    return { outcome: 'ask', kind, identifiers: unowned, touched, creates, reason: `${name}: ${listed(unowned)} was not created by this session` };
  }
  if (kind === 'destructive' && judged.length === 0) {
    return { outcome: 'ask', kind, identifiers: [], touched, creates, reason: `${name}: it modifies or deletes, and none of its arguments is something this session created` };
  }
  return { outcome: 'proceed', kind, touched, creates };
}

/** What `admit` answers: let the call go (then `settle` with its result), or the refusal to return. */
export type Admission = { proceed: true; settle(result: CallToolResult | undefined): Promise<RecordSummary> } | { proceed: false; result: CallToolResult };

/** What a settled call left the session owning, and what another session already owned. */
export type RecordSummary = { recorded: string[]; collisions: string[] };

/** Whether a probe's answer says the path exists: yes, no, or it cannot tell. */
function existsFrom(result: CallToolResult): boolean | undefined {
  if (!result.isError) return true;
  const text = (result.content ?? []).flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('\n');
  return /\bENOENT\b|no such file or directory/i.test(text) ? false : undefined;
}

function refusal(text: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text }] };
}

/**
 * Decides a call and, when it may go, reserves what it creates. The caller forwards the call
 * at once and then calls `settle` with the result (or `undefined` if it failed).
 */
export async function admit(call: GateCall, session: GateSession, hooks: GateHooks): Promise<Admission> {
  const now = hooks.now ?? Date.now;
  const { ledger, journal } = session;
  let digestOfCall: string | undefined;
  const digest = () => (digestOfCall ??= callDigest(call.upstream, call.tool.name, call.args));
  const note = (outcome: SafeModeOutcome, identifiers: readonly NamedIdentifier[], why?: string) =>
    journal.add({ at: now(), upstream: call.upstream, tool: call.tool.name, outcome, identifiers: identifiers.slice(0, 20).map(describeIdentifier), digest: digest(), ...(why ? { why } : {}) });

  // Off, only a creating call matters: what it makes is recorded all the same, so switching
  // safe mode on later protects what exists. Any other call is not judged at all.
  if (!call.enabled) {
    const kind = classifyTool(call.tool, call.rule);
    if (kind !== 'create' && !(kind === 'command' && call.rule?.idPattern)) return pass(call, kind, ledger, [], note, now);
  }
  let verdict = judge(call, ledger);
  if (!call.enabled) {
    if (verdict.outcome === 'refuse' || verdict.kind !== 'create') return pass(call, verdict.kind, ledger, [], note, now);
    return pass(call, verdict.kind, ledger, await creatable(call, verdict.creates, hooks, note), note, now);
  }
  if (verdict.outcome === 'refuse') {
    note('refused', verdict.identifiers, verdict.reason);
    return { proceed: false, result: refusal(verdict.reason) };
  }
  // Several hubs: what another hub's session owns is refused here too, before anyone is asked.
  const elsewhere = await sharedRefusal(call, ledger, verdict);
  if (elsewhere) {
    note('refused', elsewhere.identifiers, elsewhere.reason);
    return { proceed: false, result: refusal(elsewhere.reason) };
  }
  let asked = false;
  let approvedForSession: JudgedIdentifier[] = [];
  if (verdict.outcome === 'ask') {
    const question = verdict;
    const answer = await hooks.ask({
      upstream: call.upstream,
      tool: call.tool.name,
      kind: question.kind,
      reason: question.reason,
      identifiers: question.identifiers,
      ...(question.command === undefined ? {} : { command: question.command }),
      args: call.args,
      digest: digest(),
      sessionChoice: question.identifiers.length > 0,
    });
    const outcome: SafeModeOutcome =
      answer === undefined ? 'refused' : answer === 'once' ? 'approved once' : answer === 'session' && question.identifiers.length > 0 ? 'approved for the session' : answer === 'unanswered' ? 'unanswered' : 'denied';
    note(outcome, question.identifiers, question.reason);
    if (outcome !== 'approved once' && outcome !== 'approved for the session') {
      const text =
        answer === undefined
          ? `${question.reason}. ${hooks.howToAllow ?? 'The calling client cannot be asked for approval.'}`
          : `${question.reason}, and the approval request was ${outcome === 'unanswered' ? 'not answered' : 'denied'}`;
      return { proceed: false, result: refusal(text) };
    }
    asked = true;
    if (outcome === 'approved for the session') approvedForSession = question.identifiers;
  }
  const creates = verdict.kind === 'create' ? await creatable(call, verdict.creates, hooks, note) : [];

  // Decided now, as the call leaves: what became another session's while the human read the
  // form, or while the probe ran, refuses it. Nothing is awaited from here to the reservation.
  if (asked || creates.length > 0 || verdict.kind === 'create') {
    verdict = judge(call, ledger);
    if (verdict.outcome === 'refuse') {
      const why = `${verdict.reason}; this changed while the call waited${asked ? ' for its approval' : ''}, so the call was not sent`;
      note('refused', verdict.identifiers, why);
      return { proceed: false, result: refusal(why) };
    }
    const changed = await sharedRefusal(call, ledger, verdict);
    if (changed) {
      const why = `${changed.reason}; this changed while the call waited${asked ? ' for its approval' : ''}, so the call was not sent`;
      note('refused', changed.identifiers, why);
      return { proceed: false, result: refusal(why) };
    }
  }
  if (approvedForSession.length > 0) {
    // Only what is still nobody's joins the ledger, and never a root or what holds one.
    try {
      await record(call, ledger, `approved ${call.tool.name}`, ownable(call, approvedForSession), now());
    } catch (error) {
      note('approved once', approvedForSession, `not added to the session's ledger: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (!asked && verdict.outcome === 'proceed' && verdict.touched.length > 0) note('allowed', verdict.touched);
  return pass(call, verdict.kind, ledger, creates, note, now);
}

/** Where several hubs share ownership: the refusal for something another hub's session owns, if any. */
async function sharedRefusal(call: GateCall, ledger: OwnershipLedger, verdict: Verdict): Promise<{ reason: string; identifiers: NamedIdentifier[] } | undefined> {
  const { shared } = ledger;
  if (!shared || verdict.outcome === 'refuse') return undefined;
  const identifiers = [...verdict.touched, ...verdict.creates];
  const forms = identifiers.flatMap((identifier) => identifier.forms);
  if (forms.length === 0) return undefined;
  const name = `Safe mode refused '${call.tool.name}'`;
  let owner: RemoteOwner | undefined;
  try {
    owner = await shared.foreignOwner(call.upstream, forms, ledger.sessionId);
  } catch (error) {
    return { identifiers: [], reason: `${name}: safe mode cannot tell who owns what: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (!owner) return undefined;
  const words = owner.ending
    ? `it belongs to a session that ended at ${new Date(owner.ending.at).toISOString()}, and stays refused to every session until a human releases it (the hub's tree, dashboard or admin API)`
    : "another session owns it, and a session never acts on another's things";
  return { identifiers, reason: `${name}: ${listed(identifiers)}: ${words}` };
}

/**
 * Records identifiers as the session's: claimed first in the store several hubs share, if there
 * is one (an identifier another hub's session holds is a collision there), then in this process's
 * ledger. Throws when a store cannot keep it.
 */
async function record(call: GateCall, ledger: OwnershipLedger, tool: string, identifiers: readonly OwnedIdentifier[], at: number): Promise<RecordSummary> {
  const { shared } = ledger;
  const collisions: string[] = [];
  let claimed = identifiers;
  if (shared) {
    claimed = [];
    for (const identifier of identifiers) {
      const owner = await shared.claim(call.upstream, identifier, { session: ledger.sessionId, value: identifier.value, tool, at });
      if (owner) collisions.push(identifier.value);
      else claimed = [...claimed, identifier];
    }
  }
  const local = ledger.record(call.upstream, tool, claimed, at);
  return { recorded: local.recorded, collisions: [...collisions, ...local.collisions] };
}

/** Gives an identifier back, in the shared store too. */
function forget(call: GateCall, ledger: OwnershipLedger, identifier: OwnedIdentifier): void {
  ledger.forget(call.upstream, identifier);
  void ledger.shared?.forget(call.upstream, identifier, ledger.sessionId).catch(() => undefined);
}

/** The forms a list of identifiers can be owned in: one certain form each, never an unownable path. */
function ownable(call: GateCall, identifiers: readonly JudgedIdentifier[]): OwnedIdentifier[] {
  return identifiers.flatMap((identifier) => {
    const [form, ...others] = identifier.forms;
    if (!form || others.length > 0) return [];
    if (form.kind === 'path' && call.unownable.has(form.canonical)) return [];
    return [{ value: identifier.value, ...form }];
  });
}

/**
 * What a creating call may come to own: its new things, less those that existed before it (a
 * `mkdir -p` of a folder that was there), a root, or what the hub cannot place in one form.
 */
async function creatable(
  call: GateCall,
  creates: readonly JudgedIdentifier[],
  hooks: GateHooks,
  note: (outcome: SafeModeOutcome, identifiers: readonly NamedIdentifier[], why?: string) => void,
): Promise<JudgedIdentifier[]> {
  const out: JudgedIdentifier[] = [];
  const notOwned: Array<{ identifier: JudgedIdentifier; why: string }> = [];
  for (const identifier of creates) {
    const [form, ...others] = identifier.forms;
    if (!form) continue;
    if (others.length > 0) {
      notOwned.push({ identifier, why: `it may mean any of ${identifier.forms.length} places on the server` });
      continue;
    }
    if (form.kind === 'path' && call.unownable.has(form.canonical)) {
      notOwned.push({ identifier, why: 'it is a root of the server or holds one, which no session can own' });
      continue;
    }
    if (form.kind === 'path') {
      const existed = await existedBefore(call, identifier.value, hooks);
      if (existed !== false) {
        notOwned.push({ identifier, why: existed ? 'it existed before the call' : 'safe mode could not tell whether it existed before the call' });
        continue;
      }
    }
    out.push(identifier);
  }
  for (const { identifier, why } of notOwned) note('allowed', [identifier], `not owned by this session: ${why}`);
  return out;
}

/** Asks the upstream whether a path exists, through its read-only probe tool; undefined when it cannot tell. */
async function existedBefore(call: GateCall, path: string, hooks: GateHooks): Promise<boolean | undefined> {
  if (!call.existenceProbe) return undefined;
  try {
    return existsFrom(await hooks.probe(call.existenceProbe.tool, { [call.existenceProbe.argument]: path }));
  } catch {
    return undefined;
  }
}

/** Lets the call go with its new things reserved for the session; `settle` keeps what the result shows was made. */
async function pass(
  call: GateCall,
  kind: ToolKind,
  ledger: OwnershipLedger,
  creates: readonly JudgedIdentifier[],
  note: (outcome: SafeModeOutcome, identifiers: readonly NamedIdentifier[], why?: string) => void,
  now: () => number,
): Promise<Admission> {
  // Reserved before the call leaves, so of two sessions racing to create one thing exactly one
  // owns it: the other is refused by the judgement above, or finds it reserved here.
  const reserved = ownable(call, creates);
  let reservation: RecordSummary;
  try {
    reservation = await record(call, ledger, call.tool.name, reserved, now());
  } catch (error) {
    // The store could not keep the reservation: nothing is reserved, and the call does not go.
    const why = `Safe mode refused '${call.tool.name}': what it creates could not be recorded as this session's: ${error instanceof Error ? error.message : String(error)}`;
    note('refused', [], why);
    return { proceed: false, result: refusal(why) };
  }
  const { recorded, collisions } = reservation;
  const ours = reserved.filter((identifier) => recorded.includes(identifier.value));
  if (collisions.length > 0 && !call.enabled) note('allowed', [], `not owned by this session: another session owns ${collisions.slice(0, 5).join(', ')}`);
  else if (collisions.length > 0) {
    // Another session (here or on another hub) made it first: this call would touch its thing.
    for (const identifier of ours) forget(call, ledger, identifier);
    const why = `Safe mode refused '${call.tool.name}': another session owns ${collisions.slice(0, 5).join(', ')} now, so the call was not sent`;
    note('refused', [], why);
    return { proceed: false, result: refusal(why) };
  }
  let settled = false;
  return {
    proceed: true,
    async settle(result) {
      if (settled) return { recorded: [], collisions: [] };
      settled = true;
      try {
        return await settleWith(result);
      } catch (error) {
        // A reservation the store could not give back stays owned: safe in the refusing direction.
        note('allowed', [], `ownership after the call could not be recorded: ${error instanceof Error ? error.message : String(error)}`);
        return { recorded: [], collisions: [] };
      }
    },
  };
  async function settleWith(result: CallToolResult | undefined): Promise<RecordSummary> {
    // Only a creating call, or a command whose rule says where its result names what it
    // started, makes anything the session's.
    if (!result || result.isError || (kind !== 'create' && !(kind === 'command' && call.rule?.idPattern))) {
      for (const identifier of ours) forget(call, ledger, identifier);
      return { recorded: [], collisions: [] };
    }
    const made = createdIds(result, call.rule, call.args, creates);
    // A creating call whose result lists what it made (the memory server lists only new
    // entities) owns only those: the rest existed and is given back.
    const madeValues = new Set(made.named.map((identifier) => identifier.value));
    for (const identifier of ours) if (!madeValues.has(identifier.value)) forget(call, ledger, identifier);
    let fromResult: RecordSummary = { recorded: [], collisions: [] };
    try {
      fromResult = await record(call, ledger, call.tool.name, made.opaque.map(opaqueId), now());
    } catch (error) {
      note('allowed', [], `what its result named could not be recorded as this session's: ${error instanceof Error ? error.message : String(error)}`);
    }
    return {
      recorded: [...ours.filter((identifier) => madeValues.has(identifier.value)).map((identifier) => identifier.value), ...fromResult.recorded],
      collisions: fromResult.collisions,
    };
  }
}
