import type { AuditEvent } from './audit-log';

// C0 controls and DEL. PostgreSQL refuses NUL in text and jsonb, and the others forge log lines.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\x00-\x1f\x7f]/g;
// A lone surrogate is no character; JSON carries it as \udXXX, which jsonb refuses.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Escapes control characters as \xNN (so the trail still shows what was sent) and mends lone surrogates. */
function sanitizeText(value: string): string {
  return value
    .replace(LONE_SURROGATE, '\ufffd')
    .replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function sanitizeValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return sanitizeText(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => sanitizeValue(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [sanitizeText(k), sanitizeValue(v, depth + 1)]));
}

const text = (value: string | null | undefined) => (typeof value === 'string' ? sanitizeText(value) : value);

/** The event with every string in it safe to store and to log. */
export function sanitizeEvent(event: AuditEvent): AuditEvent {
  const { context } = event;
  return {
    ...event,
    userId: text(event.userId),
    clientId: text(event.clientId),
    ...(context && {
      context: {
        ip: text(context.ip) ?? null,
        userAgent: text(context.userAgent) ?? null,
        requestId: text(context.requestId) ?? null,
      },
    }),
    ...(event.details && { details: sanitizeValue(event.details) as Record<string, unknown> }),
  };
}
