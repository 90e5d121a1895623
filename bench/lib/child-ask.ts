import type { ChildProcess } from 'node:child_process';

/**
 * Request and answer over a child process's IPC channel: `ask(message, type)` sends `message`
 * (none: just wait) and resolves with the child's next message of `type`, or rejects if the child
 * exits first. `name` says which child in that error.
 */
export function childAsker<ToChild, FromChild extends { type: string }>(child: ChildProcess, name: string) {
  return <T extends FromChild['type']>(message: ToChild | undefined, type: T) =>
    new Promise<Extract<FromChild, { type: T }>>((resolve, reject) => {
      const onMessage = (m: FromChild) => {
        if (m.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m as Extract<FromChild, { type: T }>);
      };
      const onExit = (code: number | null) => reject(new Error(`${name} exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
      if (message !== undefined) child.send(message as object);
    });
}
