import { zodToJsonSchema } from 'zod-to-json-schema';
import { configFileShape } from './config';

/**
 * The JSON schema of the hub config file, generated from the zod schema the loader validates
 * with, so the two cannot drift. The build writes it to dist/hub-config.schema.json, which the
 * extension contributes for the hub config (package.json `jsonValidation`).
 */
export function hubConfigJsonSchema(): Record<string, unknown> {
  return {
    ...(zodToJsonSchema(configFileShape, { target: 'jsonSchema7', $refStrategy: 'none' }) as Record<string, unknown>),
    title: 'MCP Session Hub config',
    // VS Code allows comments and trailing commas in this file, as in mcp.json.
    allowComments: true,
    allowTrailingCommas: true,
  };
}
