/** MCP log levels (RFC 5424 severities), least severe first. */
export const mcpLogLevels = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
export type McpLogLevel = (typeof mcpLogLevels)[number];

export function isMcpLogLevel(value: unknown): value is McpLogLevel {
  return typeof value === 'string' && (mcpLogLevels as readonly string[]).includes(value);
}

/**
 * Whether a message at `level` reaches a session that asked for `threshold`. A session that set
 * no level gets everything its upstream chose to send (the spec leaves the default to servers);
 * a level the hub does not know is delivered rather than silently lost.
 */
export function passesLogLevel(level: unknown, threshold: McpLogLevel | undefined): boolean {
  if (threshold === undefined || !isMcpLogLevel(level)) return true;
  return mcpLogLevels.indexOf(level) >= mcpLogLevels.indexOf(threshold);
}

/** The most verbose of the levels sessions asked for: what a shared upstream must send so each gets its own. */
export function mostVerbose(levels: Iterable<McpLogLevel>): McpLogLevel | undefined {
  let best: number | undefined;
  for (const level of levels) {
    const index = mcpLogLevels.indexOf(level);
    if (best === undefined || index < best) best = index;
  }
  return best === undefined ? undefined : mcpLogLevels[best];
}
