import { ConfigError } from '@kfrm/config';
import { DeviceCaError } from '@kfrm/device-trust';
import { createLogger } from '@kfrm/logging';
import { onShutdownSignal } from '@kfrm/server-kit';
import type { ServiceModule } from './service-module';
import { startServices, type RunningServices, type StartOptions } from './start-services';

export interface RunOptions extends StartOptions {
  /** How a failed start ends the process (tests pass their own). */
  exit?: (code: number) => void;
}

/** A file the configuration names that is not there or not readable: the operator's to fix. */
function isMissingFile(err: unknown): err is NodeJS.ErrnoException & { path: string } {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') && typeof (err as { path?: unknown }).path === 'string';
}

/**
 * An entry point's whole life: start the modules, stop in order on SIGTERM/SIGINT. A start that
 * fails on configuration (missing or unreadable secret, bad setting, unusable CA) is one fatal
 * log line naming every problem and exit code 1: an orchestrator's restart loop then shows the
 * reason on each restart instead of a stack trace. Anything else is logged with its stack, once.
 */
export async function runService(modules: ServiceModule[], options: RunOptions): Promise<RunningServices | undefined> {
  let running: RunningServices;
  try {
    running = await startServices(modules, options);
  } catch (err) {
    // Configuration may be what failed, so the level is not read from it.
    const logger = createLogger({ service: options.name, level: 'info', destination: options.logDestination });
    if (err instanceof ConfigError) {
      logger.fatal({ problems: err.problems }, `${options.name} cannot start: ${err.problems.join('; ')}`);
    } else if (err instanceof DeviceCaError) {
      logger.fatal(`${options.name} cannot start: ${err.message}`);
    } else if (isMissingFile(err)) {
      logger.fatal(`${options.name} cannot start: ${err.path}: ${err.code === 'ENOENT' ? 'no such file' : 'not readable'}`);
    } else {
      logger.fatal({ err }, `${options.name} failed to start`);
    }
    (options.exit ?? ((code: number) => process.exit(code)))(1);
    return undefined;
  }
  onShutdownSignal(running.logger, running.stop);
  // After the handler is in place: from here a signal stops the process in order.
  running.logger.info('started');
  return running;
}
