/** The part of s3rver's (untyped) API the S3 fixture uses. */
declare module 's3rver' {
  import type { Server } from 'node:http'
  interface S3rverOptions {
    address?: string
    port?: number
    silent?: boolean
    directory: string
    configureBuckets?: { name: string }[]
  }
  /** An object as s3rver's store receives it: content is the request body stream (or a buffer). */
  interface StoredObject {
    bucket: string
    key: string
    content: NodeJS.ReadableStream | Buffer
    metadata: Record<string, string>
  }
  interface FilesystemStore {
    putObject(object: StoredObject): Promise<{ size: number; md5: string }>
    putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>
    getResourcePath(bucket: string, key: string, resource: string): string
  }
  export default class S3rver {
    store: FilesystemStore
    constructor(options: S3rverOptions)
    run(): Promise<{ address: string; port: number }>
    close(): Promise<void>
    httpServer: Server | undefined
  }
}
