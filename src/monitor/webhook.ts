/**
 * Where alerts are POSTed, and how hard to try.
 * @example alerting(session, { rules: [queryFailed()], webhook: { url: 'https://hooks.example.com/alerts', headers: { authorization: 'Bearer s3cret' }, attempts: 3 } })
 */
export interface WebhookOptions {
  readonly url: string
  /** Extra request headers, e.g. `{ authorization: 'Bearer …' }`. */
  readonly headers?: Readonly<Record<string, string>>
  /** Attempts per alert before it is given up (default 5). */
  readonly attempts?: number
  /** Wait before the first retry, doubled on each further one (default 500 ms, at most 30 s). */
  readonly backoffMs?: number
  /** Time allowed for one request (default 5 s). */
  readonly timeoutMs?: number
  /** Alerts waiting beyond this many are dropped, oldest first, and reported (default 1000). */
  readonly maxQueue?: number
}

/**
 * Posts JSON bodies to a webhook one at a time, in order, off the caller's path: `send` only queues. A body is
 * retried with exponential back-off on a network error or a non-2xx answer, then given up with a warning.
 * @example const hook = new WebhookDelivery({ url: 'http://127.0.0.1:9000/alerts' }, console.warn); hook.send(alert)
 * @throws TypeError when the url is not an http(s) URL.
 */
export class WebhookDelivery {
  private readonly queue: unknown[] = []
  private running: Promise<void> | undefined
  private closed = false
  /** Bodies given up after their last attempt, or dropped from a full queue. */
  failed = 0

  constructor(
    private readonly options: WebhookOptions,
    private readonly warn: (message: string) => void,
  ) {
    const url = new URL(options.url)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`alerting webhook: url must be http(s), got ${options.url}`)
    }
  }

  send(body: unknown): void {
    if (this.closed) return
    this.queue.push(body)
    if (this.queue.length > (this.options.maxQueue ?? 1000)) {
      this.queue.shift()
      this.failed++
      this.warn(`structured-rx alerting: webhook ${this.options.url} is behind; dropped the oldest queued alert`)
    }
    this.running ??= this.drain().finally(() => (this.running = undefined))
  }

  /** Resolves once every queued body was delivered or given up; nothing new is accepted afterwards. */
  async close(): Promise<void> {
    this.closed = true
    await this.running
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) await this.deliver(this.queue.shift())
  }

  private async deliver(body: unknown): Promise<void> {
    const attempts = this.options.attempts ?? 5
    let wait = this.options.backoffMs ?? 500
    for (let attempt = 1; ; attempt++) {
      const problem = await this.post(body)
      if (problem === undefined) return
      if (attempt >= attempts) {
        this.failed++
        this.warn(`structured-rx alerting: webhook ${this.options.url} failed ${attempts} times, alert given up: ${problem}`)
        return
      }
      await new Promise((resolve) => setTimeout(resolve, wait).unref())
      wait = Math.min(wait * 2, 30_000)
    }
  }

  /** One POST; what went wrong, or undefined on a 2xx answer. */
  private async post(body: unknown): Promise<string | undefined> {
    try {
      const res = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.options.headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
      })
      await res.arrayBuffer().catch(() => undefined)
      return res.ok ? undefined : `HTTP ${res.status}`
    } catch (e) {
      return e instanceof Error ? e.message : String(e)
    }
  }
}
