/**
 * operators/ — the user-facing operators, one file each: its RxJS behaviour (the reference semantics) and the plan
 * node it carries (the incremental semantics), nothing else. Shared machinery is in `internal/`. Operators create
 * plan nodes; they import the plan and util, never an executor.
 */
export { map } from './map.js'
export { filter } from './filter.js'
export { flatMap } from './flatMap.js'
export { withWatermark } from './withWatermark.js'
export { groupBy } from './groupBy.js'
export { count } from './count.js'
export { sum } from './sum.js'
export { avg } from './avg.js'
export { min } from './min.js'
export { max } from './max.js'
export { agg } from './agg.js'
export { aggregate } from './aggregate.js'
export type { AggregateSpec } from './aggregate.js'
export { dropDuplicates } from './dropDuplicates.js'
export { repartition } from './repartition.js'
export { mapGroupsWithState } from './mapGroupsWithState.js'
export type { MapGroupsWithStateSpec } from './mapGroupsWithState.js'
export { GroupState, type StateRecipe } from './groupState.js'
