/**
 * The wait between triggers. The loop sleeps until the interval passes or a wake-up is requested (new data,
 * `processAllAvailable()`, `stop()`); a request made while a trigger is still running is kept for the next sleep,
 * so no wake-up is lost. With `wakeOnRequest` false (a processing-time interval keeps its schedule) only stopping
 * ends the sleep early.
 */
export class TriggerWait {
  private wake: (() => void) | undefined
  private requested = false

  constructor(private readonly isStopping: () => boolean) {}

  request(): void {
    this.requested = true
    this.wake?.()
  }

  sleep(ms: number, wakeOnRequest: boolean): Promise<void> {
    const requested = this.requested
    this.requested = false
    if (requested && (wakeOnRequest || this.isStopping())) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.wake = undefined
        this.requested = false
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wake = wakeOnRequest ? done : () => (this.isStopping() ? done() : undefined)
    })
  }
}
