import type { Logger } from '@kfrm/logging';

/**
 * Runs `stop` once on SIGTERM or SIGINT (drain listeners, then close pools), then exits.
 * A second signal exits at once, for an operator who does not want to wait.
 */
export function onShutdownSignal(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // `on`, not `once`: with no listener left, a second signal would kill the process by default
  // action, silently, instead of reaching the branch above.
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}
