// Top functions by self time in a V8 .cpuprofile (node --cpu-prof):
//   node bench/profile-top.ts <file.cpuprofile> [count]
// Native and node: internal frames (writev, randomFillSync, …) also name the package code that led to them, since
// "writev" alone does not say whether a log line, an HTTP reply or a query paid for it; the closing line adds
// busy time up per package on the same rule.
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'

type CallFrame = { functionName: string; url: string; lineNumber: number }
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] }
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export type SelfTime = {
  name: string
  where: string
  selfMs: number
  /** Share of the busy time: (idle) is left out of the ranking and of the total. */
  share: number
  /** For native and node: frames, the nearest application or package frame above them, with the time it led to. */
  via: Array<{ frame: string; ms: number }>
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))

export type ProfileSummary = {
  busyMs: number
  top: SelfTime[]
  /** Busy time per package (native and node: frames counted for the package that led to them). */
  byPackage: Array<{ name: string; ms: number; share: number }>
}

/** Seconds from the profile's start; only the samples taken within it count (the idle measurement skips start-up). */
export type ProfileWindow = { fromS: number; toS: number }

export function topSelfTime(profile: CpuProfile, count = 15, window?: ProfileWindow): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parentOf = new Map<number, number>()
  for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n.id)

  const viaCache = new Map<number, CallFrame | null>()
  const viaOf = (id: number): CallFrame | null => {
    let cached = viaCache.get(id)
    if (cached === undefined) {
      let at: number | undefined = parentOf.get(id)
      while (at !== undefined && isInternal(byId.get(at)!.callFrame)) at = parentOf.get(at)
      cached = at === undefined ? null : byId.get(at)!.callFrame
      viaCache.set(id, cached)
    }
    return cached
  }
  const packageMs = new Map<string, number>()

  const byFunction = new Map<string, SelfTime & { viaMs: Map<string, number> }>()
  let busyUs = 0
  let sampledAtUs = 0
  profile.samples.forEach((nodeId, i) => {
    // timeDeltas[i] is the time before sample i, the usual attribution of V8's sampled profiles.
    const us = profile.timeDeltas[i] ?? 0
    sampledAtUs += us
    if (window && (sampledAtUs < window.fromS * 1e6 || sampledAtUs > window.toS * 1e6)) return
    const frame = byId.get(nodeId)?.callFrame
    if (!frame || frame.functionName === '(idle)') return
    busyUs += us
    const key = `${frame.functionName}|${frame.url}|${frame.lineNumber}`
    let entry = byFunction.get(key)
    if (!entry) {
      entry = {
        name: frame.functionName || '(anonymous)',
        where: whereOf(frame),
        selfMs: 0,
        share: 0,
        via: [],
        viaMs: new Map(),
      }
      byFunction.set(key, entry)
    }
    entry.selfMs += us / 1000
    let owner = frame
    if (isInternal(frame) && !frame.functionName.startsWith('(')) {
      const via = viaOf(nodeId)
      const viaLabel = via ? label(via) : '(root)'
      entry.viaMs.set(viaLabel, (entry.viaMs.get(viaLabel) ?? 0) + us / 1000)
      if (via) owner = via
    }
    const pkg = packageOf(owner)
    packageMs.set(pkg, (packageMs.get(pkg) ?? 0) + us / 1000)
  })
  const share = (ms: number) => (busyUs > 0 ? (ms * 1000) / busyUs : 0)
  const top = [...byFunction.values()]
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, count)
    .map(({ viaMs, ...e }) => ({
      ...e,
      share: share(e.selfMs),
      via: [...viaMs]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([frame, ms]) => ({ frame, ms })),
    }))
  const byPackage = [...packageMs].sort((a, b) => b[1] - a[1]).map(([name, ms]) => ({ name, ms, share: share(ms) }))
  return { busyMs: busyUs / 1000, top, byPackage }
}

/** The npm package, workspace project or runtime a frame belongs to. */
function packageOf(frame: CallFrame): string {
  const { url, functionName } = frame
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  if (url.startsWith('node:')) return 'node'
  const path = url.startsWith('file://') ? relative(ROOT, fileURLToPath(url)) : url
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)
  if (pnpm) return pnpm[1]!
  return path.split('/').slice(0, 2).join('/')
}

// Native code (no url) and Node's own modules: the cost is real, but the caller worth knowing is further up.
const isInternal = ({ url }: CallFrame) => url === '' || url.startsWith('node:')

function label(frame: CallFrame): string {
  return `${frame.functionName || '(anonymous)'} ${whereOf(frame)}`
}

function whereOf({ url, lineNumber }: CallFrame): string {
  if (url === '') return '(native)'
  const path = url.startsWith('file://') ? relative(ROOT, fileURLToPath(url)) : url
  // node_modules/.pnpm/<pkg>@<version>/node_modules/<pkg>/… reads better as <pkg>/…
  const short = path.replace(/^.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')
  return `${short}:${lineNumber + 1}`
}

export function formatTop(file: string, count = 15, window?: ProfileWindow): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const seconds = window ? window.toS - window.fromS : (profile.endTime - profile.startTime) / 1e6
  const { busyMs, top, byPackage } = topSelfTime(profile, count, window)
  const lines = top.flatMap((e, i) => {
    const head = `${String(i + 1).padStart(2)}. ${e.selfMs.toFixed(0).padStart(6)} ms ${(e.share * 100).toFixed(1).padStart(5)}%  ${e.name}  ${e.where}`
    const via = e.via.map((v) => `${v.ms.toFixed(0)} ms ${v.frame}`).join('; ')
    return via === '' ? [head] : [head, `                        via ${via}`]
  })
  const header = `${file}: ${seconds.toFixed(1)} s profiled, ${(busyMs / 1000).toFixed(window ? 3 : 1)} s busy (shares are of busy time)`
  const packages = byPackage
    .slice(0, 10)
    .map((p) => `${p.name} ${(p.share * 100).toFixed(0)}%`)
    .join(', ')
  return [header, ...lines, `by package: ${packages}`].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, count] = process.argv.slice(2)
  if (!file) {
    console.error('usage: node bench/profile-top.ts <file.cpuprofile> [count]')
    process.exit(2)
  }
  console.log(formatTop(file, Number(count ?? 15)))
}
