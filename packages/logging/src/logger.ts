import { pino, type DestinationStream, type Logger } from 'pino';
import { redactRecord } from './redact';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: string;
  /** Service name, on every line. */
  service: string;
  /** Where lines go; stdout by default. Tests pass a capturing stream. */
  destination?: DestinationStream;
}

/**
 * JSON lines on stdout with the service name on every line. Every record, including the `err`
 * of a failed call, goes through `redactRecord`: logging a whole request by mistake cannot leak
 * a PIN, token, key or resident id, and account numbers, names and phone numbers are masked.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (record) => redactRecord(record),
      },
      // Errors are serialised by redactRecord (type, message, stack, cause; drops secret fields).
      // pino's own `err` serializer would run first and hand it a plain object whose type is
      // "Object" and whose `name` field then reads as a person's name and is masked.
      serializers: { err: (err: unknown) => err },
    },
    options.destination,
  );
}

/** A destination that keeps lines in memory: tests assert that no secret reaches a log. */
export function createCapturingDestination(): DestinationStream & { lines: string[]; text(): string } {
  const lines: string[] = [];
  return {
    lines,
    write(line: string) {
      lines.push(line);
    },
    text() {
      return lines.join('');
    },
  };
}
