/**
 * Variables a per-session upstream's `args`, `env` and `cwd` may use, filled in per instance:
 * `${sessionId}` (the logical session it serves) and `${instanceDir}` (a private directory made
 * for the instance and removed with it), so that a server that keeps state on disk
 * (`MEMORY_FILE_PATH=${instanceDir}/memory.jsonl`) keeps each session's apart.
 */
export type InstanceVariables = { sessionId: string; instanceDir: string };

type Launchable = { args: string[]; env: Record<string, string>; cwd?: string };

const pattern = /\$\{(sessionId|instanceDir)\}/g;

function fill(text: string, vars: InstanceVariables): string {
  return text.replace(pattern, (_match, name: keyof InstanceVariables) => vars[name]);
}

function texts(spec: Launchable): string[] {
  return [...spec.args, ...Object.values(spec.env), ...(spec.cwd === undefined ? [] : [spec.cwd])];
}

/** Whether the spec uses `name` anywhere it can be filled in. */
export function usesInstanceVariable(spec: Launchable, name: keyof InstanceVariables): boolean {
  return texts(spec).some((text) => text.includes(`\${${name}}`));
}

export function fillInstanceVariables<T extends Launchable>(spec: T, vars: InstanceVariables): T {
  return {
    ...spec,
    args: spec.args.map((arg) => fill(arg, vars)),
    env: Object.fromEntries(Object.entries(spec.env).map(([key, value]) => [key, fill(value, vars)])),
    ...(spec.cwd === undefined ? {} : { cwd: fill(spec.cwd, vars) }),
  };
}
