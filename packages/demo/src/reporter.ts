import { describeError, formatError, type DescribedError } from './grpc-errors';
import { formatDuration } from './format';

/** Where the demo writes: process.stdout, or a buffer in tests. */
export interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
  /** Terminal width: the spinner line is cut to it, since a wrapped line cannot be redrawn. */
  columns?: number;
}

export interface StepRecord {
  index: number;
  title: string;
  ok: boolean;
  ms: number;
  /** The last call the step announced (e.g. "CasaOpeningService/CompleteOpening"). */
  call?: string;
  error?: DescribedError;
}

/** What a step's body uses to say what it sends and receives. */
export interface StepScope {
  /** "→ …": a request, in plain words; also what the spinner shows while it runs. */
  send(call: string, words?: string): void;
  /** "← …": what came back. */
  receive(words: string): void;
  /** A line of context, neither sent nor received. */
  note(words: string): void;
  /** Changes the spinner's label while waiting for something that is not a call. */
  waiting(label: string): void;
}

/** Thrown by {@link Reporter.step} after it has reported the failure, so the scenario stops. */
export class StepFailedError extends Error {
  constructor(readonly record: StepRecord) {
    super(`step ${record.index} failed: ${record.title}`);
  }
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const BAR_WIDTH = 20;
const FRAME_MS = 80;
const INDENT = '       ';

/**
 * Step-by-step output: a numbered heading per step, its requests and answers, its time, and a
 * spinner with a progress bar while it waits. The spinner and colours are ANSI escapes written
 * only when the output is a terminal (and NO_COLOR is unset for colours); otherwise the output
 * is plain lines, fit for logs and tests.
 */
export class Reporter {
  readonly records: StepRecord[] = [];
  private readonly interactive: boolean;
  private readonly color: boolean;
  private spinnerLabel = '';
  private spinnerStart = 0;
  private frame = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly startedAt = performance.now();

  constructor(
    private readonly out: Output,
    private readonly totalSteps: number,
    options: { interactive?: boolean; color?: boolean } = {},
  ) {
    this.interactive = options.interactive ?? out.isTTY === true;
    this.color = options.color ?? (this.interactive && !process.env.NO_COLOR);
  }

  private paint(code: string, text: string): string {
    return this.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  /** Writes whole lines, lifting the spinner line out of the way first. */
  private line(text: string): void {
    if (this.interactive && this.timer) this.out.write('\r\x1b[2K');
    this.out.write(`${text}\n`);
    if (this.timer) this.drawSpinner();
  }

  private drawSpinner(): void {
    if (!this.interactive) return;
    const done = this.records.length;
    const filled = Math.round((done / this.totalSteps) * BAR_WIDTH);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
    const elapsed = ((performance.now() - this.spinnerStart) / 1000).toFixed(1);
    const spinner = this.paint('36', SPINNER[this.frame % SPINNER.length]!);
    const tail = `  ${bar} ${done}/${this.totalSteps}`;
    // Visible width without the label: indent, spinner and space, space, elapsed, tail.
    const room = (this.out.columns ?? 120) - 1 - (INDENT.length + 2 + 1 + elapsed.length + 1 + tail.length);
    const label = this.spinnerLabel.length <= room ? this.spinnerLabel : `${this.spinnerLabel.slice(0, Math.max(0, room - 1))}…`;
    this.out.write(`\r\x1b[2K${INDENT}${spinner} ${label} ${this.paint('2', `${elapsed}s`)}${tail}`);
  }

  private startSpinner(label: string): void {
    this.spinnerLabel = label;
    this.spinnerStart = performance.now();
    if (!this.interactive) return;
    this.timer = setInterval(() => {
      this.frame++;
      this.drawSpinner();
    }, FRAME_MS);
    // The spinner never keeps the process alive on its own.
    this.timer.unref();
    this.drawSpinner();
  }

  private stopSpinner(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.out.write('\r\x1b[2K');
  }

  /** Runs one numbered step; reports its outcome and time; rethrows a failure as StepFailedError. */
  async step<T>(title: string, body: (scope: StepScope) => Promise<T>): Promise<T> {
    const index = this.records.length + 1;
    const width = String(this.totalSteps).length;
    this.line('');
    this.line(this.paint('1', `[${String(index).padStart(width)}/${this.totalSteps}] ${title}`));
    let call: string | undefined;
    const scope: StepScope = {
      send: (name, words) => {
        call = name;
        this.spinnerLabel = name;
        this.spinnerStart = performance.now();
        this.line(`${INDENT}${this.paint('34', '→')} ${name}${words ? `: ${words}` : ''}`);
      },
      receive: (words) => this.line(`${INDENT}${this.paint('32', '←')} ${words}`),
      note: (words) => this.line(`${INDENT}  ${this.paint('2', words)}`),
      waiting: (label) => {
        this.spinnerLabel = label;
        this.spinnerStart = performance.now();
      },
    };
    const started = performance.now();
    this.startSpinner('working');
    try {
      const result = await body(scope);
      const ms = performance.now() - started;
      this.stopSpinner();
      this.records.push({ index, title, ok: true, ms, call });
      this.line(`${INDENT}${this.paint('32', '✓')} done in ${formatDuration(ms)}`);
      return result;
    } catch (err) {
      const ms = performance.now() - started;
      this.stopSpinner();
      const record: StepRecord = { index, title, ok: false, ms, call, error: describeError(err) };
      this.records.push(record);
      this.line(`${INDENT}${this.paint('31', '✗')} failed after ${formatDuration(ms)}${call ? ` in ${call}` : ''}`);
      this.line(`${INDENT}  ${this.paint('31', formatError(record.error!))}`);
      throw new StepFailedError(record);
    }
  }

  /** The closing table: every step with its time, and what failed. */
  summary(extra: string[] = []): void {
    const failed = this.records.find((r) => !r.ok);
    const total = formatDuration(performance.now() - this.startedAt);
    this.line('');
    this.line(this.paint('1', 'Summary'));
    const width = String(this.totalSteps).length;
    for (const r of this.records) {
      const mark = r.ok ? this.paint('32', '✓') : this.paint('31', '✗');
      this.line(`  ${mark} ${String(r.index).padStart(width)}. ${r.title.padEnd(56)} ${formatDuration(r.ms).padStart(9)}`);
    }
    for (let index = this.records.length + 1; index <= this.totalSteps; index++)
      this.line(`  ${this.paint('2', '·')} ${String(index).padStart(width)}. (not run)`);
    for (const text of extra) this.line(`  ${text}`);
    if (failed) {
      this.line(
        this.paint(
          '31',
          `Step ${failed.index} failed (${failed.title})${failed.call ? ` in ${failed.call}` : ''}: ${formatError(failed.error!)}`,
        ),
      );
    } else if (this.records.length === this.totalSteps) {
      this.line(this.paint('32', `All ${this.totalSteps} steps succeeded in ${total}.`));
    } else {
      this.line(this.paint('31', `Stopped after ${this.records.length} of ${this.totalSteps} steps (${total}).`));
    }
  }

  get succeeded(): boolean {
    return this.records.length === this.totalSteps && this.records.every((r) => r.ok);
  }
}
