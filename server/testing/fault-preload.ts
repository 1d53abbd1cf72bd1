/**
 * Test-only preload (`node --import tsx --import ./server/testing/fault-preload.ts server/index.ts`): on SIGUSR2 the
 * process fails the way GOLIVE_TEST_FAULT says, from outside any request: `throw` (an uncaught exception) or `reject`
 * (an unhandled rejection). Used by server/ingest/signals.integration.test.ts; never loaded by the server itself.
 */
process.on('SIGUSR2', () => {
  const fault = process.env.GOLIVE_TEST_FAULT;
  if (fault === 'throw') {
    setImmediate(() => {
      throw new Error('injected crash');
    });
  } else if (fault === 'reject') {
    setImmediate(() => {
      void Promise.reject(new Error('injected rejection'));
    });
  }
});
