// Loaded with `node --import` into an app a test wants to run on a wrong clock: every Date, and Date.now, reads
// CLOCK_SKEW_MS ahead (or behind, when negative), as on a host whose clock drifted. Timers are not affected.
const skewMs = Number(process.env.CLOCK_SKEW_MS ?? 0)
const RealDate = Date
class SkewedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + skewMs)
    else super(...args)
  }
  static now() {
    return RealDate.now() + skewMs
  }
}
globalThis.Date = SkewedDate
