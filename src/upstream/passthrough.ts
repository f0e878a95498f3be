import { z } from 'zod';

/** Results pass through the hub as sent (either way); the receiving side's SDK validates them. */
export const passthroughResult = z.object({}).passthrough();
export type PassthroughResult = z.infer<typeof passthroughResult>;
