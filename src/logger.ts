import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; credentials and tokens are redacted wherever they appear. */
export function createLogger(level: string, fd: 1 | 2 = 1): Logger {
  return pino(
    {
      level,
      base: { service: 'authd' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'headers.authorization',
          'headers.cookie',
          'password',
          '*.password',
          'client_secret',
          '*.client_secret',
          'secret',
          '*.secret',
          'refresh_token',
          '*.refresh_token',
          'access_token',
          '*.access_token',
          'token',
          '*.token',
          'password_hash',
          '*.password_hash',
          'passwordHash',
          '*.passwordHash',
        ],
        censor: '[redacted]',
      },
    },
    fd === 2 ? pino.destination({ dest: 2, sync: true }) : undefined,
  );
}
