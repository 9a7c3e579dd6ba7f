/**
 * Checks the optional partition count of a partitioned connector (`<subject>.<p>`, `<key>:<p>`).
 * @example checkPartitions(options.partitions, 'jetStream') // undefined or a positive integer
 * @throws RangeError when it is given and not a positive integer.
 */
export function checkPartitions(partitions: number | undefined, what: string): number | undefined {
  if (partitions !== undefined && (!Number.isInteger(partitions) || partitions < 1)) {
    throw new RangeError(`${what}: partitions must be a positive integer, got ${partitions}`)
  }
  return partitions
}
