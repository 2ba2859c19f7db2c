// Validation of every payload a client can send (see docs/protocol.md).
import { z } from 'zod';
import { LIMITS } from '../../common/protocol.js';

const terminalId = z.string().min(1).max(LIMITS.maxIdLength).regex(/^[A-Za-z0-9_-]+$/, 'not a terminal id');
const cols = z.number().int().min(LIMITS.minCols).max(LIMITS.maxCols);
const rows = z.number().int().min(LIMITS.minRows).max(LIMITS.maxRows);
/** Shown to the user's other devices: no control characters; empty means "Unnamed device". */
const deviceName = z
  .string()
  .max(LIMITS.maxDeviceNameLength)
  .optional()
  .transform((v) => v?.replace(/[\u0000-\u001f\u007f]/g, '').trim() || 'Unnamed device');

export const schemas = {
  'terminal:create': z.strictObject({
    cols,
    rows,
    title: z.string().max(LIMITS.maxTitleLength).optional(),
  }),
  'terminal:list': z.strictObject({}),
  'terminal:attach': z.strictObject({ terminalId }),
  'terminal:detach': z.strictObject({ terminalId }),
  'terminal:input': z.strictObject({
    terminalId,
    data: z.string().min(1).max(LIMITS.maxInputLength),
  }),
  'terminal:resize': z.strictObject({ terminalId, cols, rows }),
  'terminal:ack': z.strictObject({ terminalId, offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
  'terminal:claim': z.strictObject({ terminalId }),
  'terminal:close': z.strictObject({ terminalId }),
  'terminal:rename': z.strictObject({
    terminalId,
    // Control characters would reach other devices' tab bars and logs.
    title: z
      .string()
      .transform((v) => v.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/\s+/g, ' ').trim())
      .pipe(z.string().min(1, 'title must not be empty').max(LIMITS.maxTitleLength)),
  }),
  'terminal:status': z.strictObject({ terminalId }),
  'device:rename': z.strictObject({ deviceName }),
} as const;

export type EventName = keyof typeof schemas;
export type Payload<E extends EventName> = z.infer<(typeof schemas)[E]>;

export const handshakeSchema = z.object({
  token: z.string().min(1).max(200),
  deviceId: z.string().min(1).max(LIMITS.maxIdLength).regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits, "_", ".", ":" or "-"'),
  deviceName,
  /** The device acknowledges rendered output (`terminal:ack`) and takes part in flow control. */
  outputAcks: z.boolean().optional(),
});

/** One readable line from a validation failure. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}
