export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The only way code below the VS Code layer reports anything: injected, never `console`. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** A logger whose lines carry a component tag, e.g. `[upstream:demo]`. */
  child(component: string): Logger;
}

const levelOrder: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A logger that hands formatted lines to `write`; used by the CLI (stderr) and tests. */
export function createLogger(
  write: (level: LogLevel, line: string) => void,
  minimum: LogLevel = 'info',
  component?: string,
): Logger {
  const emit = (level: LogLevel, message: string) => {
    if (levelOrder[level] < levelOrder[minimum]) return;
    write(level, component ? `[${component}] ${message}` : message);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    child: (name) => createLogger(write, minimum, component ? `${component}:${name}` : name),
  };
}

export const silentLogger: Logger = createLogger(() => undefined, 'error');

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
