import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { Any } from '@kfrm/proto/gen/google/protobuf/any';
import { Status } from '@kfrm/proto/gen/google/rpc/status';
import { CompleteOpeningApiError, CompleteOpeningApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/casa/casa';
import { describeError, formatError } from './grpc-errors';
import { Reporter, StepFailedError } from './reporter';

function capture(isTTY: boolean) {
  let text = '';
  return { out: { isTTY, write: (chunk: string) => (text += chunk) }, text: () => text };
}

/** A ServiceError as the server kit sends it: status and the method's ApiError in the details. */
function seedError(code: grpc.status, typeName: string, value: Uint8Array, message: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  const details = [Any.fromPartial({ typeUrl: `type.googleapis.com/${typeName}`, value: Buffer.from(value) })];
  metadata.set('grpc-status-details-bin', Buffer.from(Status.encode(Status.fromPartial({ code, message, details })).finish()));
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${message}`), { code, details: message, metadata });
}

const kycNotVerified = () =>
  seedError(
    grpc.status.FAILED_PRECONDITION,
    CompleteOpeningApiError.$type,
    CompleteOpeningApiError.encode({ code: CompleteOpeningApiError_ErrorCode.KYC_NOT_VERIFIED }).finish(),
    'KYC is not verified',
  );

describe('errors in words', () => {
  it('names the gRPC status and the seed code from grpc-status-details-bin', () => {
    const described = describeError(kycNotVerified());
    expect(described).toEqual({
      status: 'FAILED_PRECONDITION',
      statusCode: 9,
      seedCode: 'CompleteOpeningApiError.KYC_NOT_VERIFIED',
      message: 'KYC is not verified',
    });
    expect(formatError(described)).toBe(
      'gRPC status FAILED_PRECONDITION (9), seed code CompleteOpeningApiError.KYC_NOT_VERIFIED: KYC is not verified',
    );
  });

  it('says when there is no seed code, shows an unknown detail type by name, and passes plain errors through', () => {
    const bare = Object.assign(new Error('x'), {
      code: grpc.status.UNAVAILABLE,
      details: 'No connection established',
      metadata: new grpc.Metadata(),
    });
    expect(formatError(describeError(bare))).toBe('gRPC status UNAVAILABLE (14), no seed code: No connection established');
    expect(describeError(seedError(grpc.status.INTERNAL, 'other.pkg.SomeError', new Uint8Array([8, 1]), 'm')).seedCode).toBe(
      'other.pkg.SomeError',
    );
    expect(describeError(new Error('plain'))).toEqual({ message: 'plain' });
  });
});

describe('Reporter', () => {
  it('writes plain numbered steps, sends, answers and times when the output is not a terminal', async () => {
    const c = capture(false);
    const reporter = new Reporter(c.out, 2);
    const value = await reporter.step('First', async (s) => {
      s.send('Service/Method', 'a request');
      s.receive('an answer');
      s.note('context');
      return 42;
    });
    expect(value).toBe(42);
    await expect(
      reporter.step('Second', async (s) => {
        s.send('CasaOpeningService/CompleteOpening');
        throw kycNotVerified();
      }),
    ).rejects.toBeInstanceOf(StepFailedError);
    reporter.summary();
    const text = c.text();
    expect(text).not.toMatch(/\x1b/);
    expect(text).toContain('[1/2] First\n       → Service/Method: a request\n       ← an answer\n         context\n       ✓ done in ');
    expect(text).toContain('✗ failed after');
    expect(text).toContain(
      'Step 2 failed (Second) in CasaOpeningService/CompleteOpening: gRPC status FAILED_PRECONDITION (9), seed code CompleteOpeningApiError.KYC_NOT_VERIFIED',
    );
    expect(reporter.succeeded).toBe(false);
    expect(reporter.records.map((r) => [r.index, r.ok, r.call])).toEqual([
      [1, true, 'Service/Method'],
      [2, false, 'CasaOpeningService/CompleteOpening'],
    ]);
  });

  it('draws a spinner with a progress bar on a terminal and clears it when the step ends', async () => {
    const c = capture(true);
    const reporter = new Reporter(c.out, 4, { color: false });
    await reporter.step('Waiting', async (s) => {
      s.send('Service/Slow');
      // Long enough for the spinner to draw frames (it redraws every 80 ms).
      await new Promise((resolve) => setTimeout(resolve, 250));
    });
    const text = c.text();
    expect(text).toContain('\r\x1b[2K');
    expect(text).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Service\/Slow \d+\.\ds {2}░{20} 0\/4/);
    // The spinner line is cleared, the outcome is the last line, and nothing is drawn after it.
    expect(text.slice(text.lastIndexOf('\r\x1b[2K'))).toMatch(/^\r\x1b\[2K {7}✓ done in \d+ ms\n$/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(c.text()).toBe(text);
    expect(reporter.succeeded).toBe(false);
  });

  it('cuts the spinner line to the terminal width', async () => {
    const c = capture(true);
    const out = { ...c.out, columns: 60 };
    const reporter = new Reporter(out, 3, { color: false });
    await reporter.step('Long', async (s) => {
      s.send('LoginService/PrepareLogin → AuthenticationService/AuthenticatePinForLogin → LoginService/Login');
    });
    const spinnerLines = c
      .text()
      .split('\r\x1b[2K')
      .filter((part) => /^ {7}[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/.test(part));
    expect(spinnerLines.length).toBeGreaterThan(0);
    for (const line of spinnerLines) expect([...line].length).toBeLessThan(60);
    expect(spinnerLines.at(-1)).toMatch(/ LoginService\/Prepa\S*… \d+\.\ds /);
  });

  it('reports success only when every step ran and succeeded', async () => {
    const c = capture(false);
    const reporter = new Reporter(c.out, 1);
    await reporter.step('Only', async () => undefined);
    reporter.summary(['extra line']);
    expect(reporter.succeeded).toBe(true);
    expect(c.text()).toContain('  extra line\nAll 1 steps succeeded in ');
  });
});
