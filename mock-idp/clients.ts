/** A client registered at one provider. */
export interface RegisteredClient {
  clientId: string;
  clientSecret: string | undefined;
  /** Registered redirect URIs, compared by exact string. */
  redirectUris: string[];
  /** Whether loopback http callbacks (127.0.0.1, localhost, [::1]) on any port and path are allowed. */
  allowLoopback: boolean;
  tokenEndpointAuthMethod: 'client_secret_post' | 'client_secret_basic' | 'none';
  name: string;
  /** Provider-specific settings (GitHub App expiring tokens, Auth0 audience...). */
  extra: Record<string, unknown>;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function isLoopbackHttp(uri: string): boolean {
  try {
    const url = new URL(uri);
    return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname) && !url.username && !url.password;
  } catch {
    return false;
  }
}

/** Whether `uri` may receive codes for `client`: an exact registered string, or an allowed loopback. */
export function redirectAllowed(client: RegisteredClient, uri: string): boolean {
  if (client.redirectUris.includes(uri)) return true;
  return client.allowLoopback && isLoopbackHttp(uri) && !uri.includes('#');
}

/** One provider's registered clients: its default client and any registered dynamically. */
export class ClientRegistry {
  #clients = new Map<string, RegisteredClient>();
  readonly #defaults: RegisteredClient[];

  constructor(defaults: RegisteredClient[]) {
    this.#defaults = defaults;
    this.reset();
  }

  get(clientId: string): RegisteredClient | undefined {
    return this.#clients.get(clientId);
  }

  add(client: RegisteredClient): RegisteredClient {
    this.#clients.set(client.clientId, client);
    return client;
  }

  list(): RegisteredClient[] {
    return [...this.#clients.values()];
  }

  get default(): RegisteredClient {
    return this.#defaults[0]!;
  }

  reset(): void {
    this.#clients = new Map(this.#defaults.map((c) => [c.clientId, { ...c }]));
  }
}
