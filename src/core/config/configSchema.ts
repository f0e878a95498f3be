import { zodToJsonSchema } from 'zod-to-json-schema';
import { configFileShape } from './config';
import { knownVariablesPattern } from './configVariables';

type Schema = { [key: string]: unknown; properties?: Record<string, Schema>; items?: Schema; additionalProperties?: Schema | boolean; anyOf?: Schema[] };

/** Where an upstream entry's strings may hold variables: the JSON schema checks them there. */
const variableFields = ['command', 'args', 'env', 'envFile', 'cwd', 'url', 'headers', 'roots'];

const variableCheck = {
  pattern: knownVariablesPattern,
  patternErrorMessage: 'Unknown variable. Use ${input:ID}, ${env:NAME}, ${userHome}, ${workspaceFolder}, ${workspaceFolderBasename}, ${pathSeparator}, ${/}, ${NAME}, ${NAME:-default} (per-session: ${sessionId}, ${instanceDir}).',
};

/** Adds the variable check to a string schema, or to the strings of an array or a record of them. */
function checkVariables(schema: Schema | undefined): void {
  if (!schema) return;
  if (schema.type === 'string') Object.assign(schema, variableCheck);
  if (schema.items) checkVariables(schema.items);
  if (typeof schema.additionalProperties === 'object') checkVariables(schema.additionalProperties);
}

/**
 * The JSON schema of the hub config file, generated from the zod schema the loader validates
 * with, so the two cannot drift. The build writes it to dist/hub-config.schema.json, which the
 * extension contributes for the hub config (package.json `jsonValidation`). VS Code also checks
 * the variables in an upstream's strings with it as the user types.
 */
export function hubConfigJsonSchema(): Record<string, unknown> {
  const schema = zodToJsonSchema(configFileShape, { target: 'jsonSchema7', $refStrategy: 'none' }) as Schema;
  for (const section of ['servers', 'mcpServers']) {
    const entry = schema.properties?.[section]?.additionalProperties;
    const variants = typeof entry === 'object' ? (entry.anyOf ?? []) : [];
    for (const variant of variants) for (const field of variableFields) checkVariables(variant.properties?.[field]);
  }
  return {
    ...schema,
    title: 'MCP Session Hub config',
    // VS Code allows comments and trailing commas in this file, as in mcp.json.
    allowComments: true,
    allowTrailingCommas: true,
  };
}
