import type { Server } from 'node:net';

export class StartupError extends Error {
  override name = 'StartupError';
}

/** Listen, turning "address in use" and friends into one clear line naming the port and its variable. */
export function listen(server: Server, port: number, host: string, variable: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') reject(new StartupError(`port ${port} (${variable}) is already in use on ${host}`));
      else if (err.code === 'EACCES') reject(new StartupError(`no permission to listen on port ${port} (${variable})`));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND')
        reject(new StartupError(`cannot listen on HOST=${host}: ${err.code}`));
      else reject(new StartupError(`cannot listen on port ${port} (${variable}): ${err.message}`));
    };
    const onListening = () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}
