/**
 * A test extension standing in for Copilot's agent in the code-server e2e: a chat participant
 * `@hubprobe` that calls an MCP tool through `vscode.lm.invokeTool` with its request's
 * `toolInvocationToken` (the path Copilot's agent takes), and a language model provider that is
 * never asked to answer: VS Code runs a participant's handler only once some model is registered.
 *
 * A prompt is `<tool name> <JSON input>`. Each answer is kept with the chat it came from, and the
 * in-host suite reads them through this extension's exports.
 */
import * as vscode from 'vscode';

/** What a chat turn did: the tool it called and the text the tool gave back. */
export type ProbeCall = { tool: string; input: unknown; text: string; error?: string };

export type ChatProbeApi = { calls: ProbeCall[] };

/**
 * The language model provider API (VS Code 1.104+). The project's @types/vscode stays at the
 * extension's engine floor (1.101), so the few members used here are declared locally.
 */
type ModelInformation = { id: string; name: string; family: string; version: string; maxInputTokens: number; maxOutputTokens: number; capabilities: Record<string, never>; isUserSelectable: boolean };
type ModelProvider = {
  provideLanguageModelChatInformation(): ModelInformation[];
  provideLanguageModelChatResponse(model: ModelInformation, messages: unknown, options: unknown, progress: vscode.Progress<vscode.LanguageModelTextPart>): Promise<void>;
  provideTokenCount(): Promise<number>;
};
type LmWithProviders = typeof vscode.lm & { registerLanguageModelChatProvider(vendor: string, provider: ModelProvider): vscode.Disposable };

export function activate(context: vscode.ExtensionContext): ChatProbeApi {
  const api: ChatProbeApi = { calls: [] };
  const model: ModelInformation = { id: 'hub-probe-model', name: 'Hub Probe', family: 'hub-probe', version: '1', maxInputTokens: 4096, maxOutputTokens: 256, capabilities: {}, isUserSelectable: true };
  context.subscriptions.push(
    (vscode.lm as LmWithProviders).registerLanguageModelChatProvider('hub-probe', {
      provideLanguageModelChatInformation: () => [model],
      provideLanguageModelChatResponse: async (_model, _messages, _options, progress) => progress.report(new vscode.LanguageModelTextPart('The hub probe model does not answer.')),
      provideTokenCount: async () => 1,
    }),
  );
  const participant = vscode.chat.createChatParticipant('hubProbe.chat', async (request, _context, stream, token) => {
    const space = request.prompt.indexOf(' ');
    const tool = (space < 0 ? request.prompt : request.prompt.slice(0, space)).trim();
    const input: unknown = space < 0 ? {} : JSON.parse(request.prompt.slice(space + 1));
    try {
      const result = await vscode.lm.invokeTool(tool, { input: input as object, toolInvocationToken: request.toolInvocationToken }, token);
      const text = result.content.map((part) => (part instanceof vscode.LanguageModelTextPart ? part.value : '')).join('');
      api.calls.push({ tool, input, text });
      stream.markdown(`${tool}: ${text}`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      api.calls.push({ tool, input, text: '', error: message });
      stream.markdown(`${tool} failed: ${message}`);
    }
  });
  context.subscriptions.push(participant);
  return api;
}

export function deactivate(): void {}
