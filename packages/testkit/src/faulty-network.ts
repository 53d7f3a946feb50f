// Connections to the real broker through sockets a test can cut, as if the broker, or the client's
// host, went away: kafkajs takes a socketFactory, so the client under test talks to the real broker
// while the test decides when its connections die.
import type { ISocketFactory } from 'kafkajs';
import { connect, type Socket } from 'node:net';

/** Kafka API keys of the requests a test may want to cut at. */
export const KafkaApiKeys = { EndTxn: 26, Heartbeat: 12 } as const;

export interface FaultyNetwork {
  /** Give it as the kafkajs client's socketFactory. */
  socketFactory: ISocketFactory;
  /**
   * down: every new connection fails at once. cutAt: the first request with this API key is never
   * sent; every connection is cut and the network goes down.
   */
  state: { down: boolean; cutAt: number | null };
  /** Cuts every open connection and takes the network down. */
  cutAll(): void;
}

export function faultyNetwork(): FaultyNetwork {
  const sockets = new Set<Socket>();
  const state: FaultyNetwork['state'] = { down: false, cutAt: null };
  const cutAll = () => {
    state.down = true;
    for (const s of sockets) s.destroy(new Error('connection cut by the test'));
  };
  const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = connect({ host, port }, onConnect);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (state.down) process.nextTick(() => socket.destroy(new Error('connection refused by the test')));
    const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
    socket.write = (chunk: unknown, ...rest: unknown[]) => {
      // A request: 4 bytes of size, then its 2-byte API key.
      if (
        state.cutAt !== null &&
        Buffer.isBuffer(chunk) &&
        chunk.length >= 6 &&
        chunk.readInt16BE(4) === state.cutAt
      ) {
        state.cutAt = null;
        cutAll();
        return false;
      }
      return write(chunk, ...rest);
    };
    return socket;
  };
  return { socketFactory, state, cutAll };
}
