/**
 * The pipeline cache: bind-group layouts, compute pipelines and bind groups.
 *
 * Bind groups are cached too, keyed by their layout and the serials of the
 * buffers they bind. The kernel parameters are bound through one dynamic
 * offset into the uniform arena, so the slot a dispatch uses is not part of
 * the key. With the size-class pool handing out the same buffers step after
 * step, a repeated step creates no bind group at all. That is the fix for
 * sustained use: each bind group is a native Dawn object (about 5.5 KB on
 * lavapipe) that is only released once V8 has collected its JS wrapper AND
 * the event loop has turned (Node-API runs native finalizers from the event
 * loop, and Dawn recycles descriptor sets only when it ticks). A synchronous
 * loop never gives it that chance, so one bind group per dispatch grew RSS
 * by ~6 KB per op until the process crashed.
 */

/** How a kernel binds a storage buffer. */
export type Access = "read" | "read_write";

export interface Binding {
  readonly buf: GPUBuffer;
  readonly access: Access;
}

/** Bind groups kept; beyond this the least recently used is dropped (its serials may be dead buffers). */
const BIND_GROUP_CAP = 4096;

export interface PipelineStats {
  pipelines: number;
  bindGroups: number;
  /** Counter: bind groups created (a repeated step should add none). */
  bindGroupsCreated: number;
}

export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly groups = new Map<string, GPUBindGroup>();
  readonly stats: PipelineStats = { pipelines: 0, bindGroups: 0, bindGroupsCreated: 0 };

  constructor(private readonly device: GPUDevice) {}

  /** The layout for storage bindings 0..n-1 (by access) and the uniform params at binding n. */
  layout(bindings: readonly Binding[]): { key: string; layout: GPUBindGroupLayout } {
    const key = bindings.map((b) => (b.access === "read" ? "r" : "w")).join("") + "u";
    let layout = this.layouts.get(key);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = bindings.map((b, i) => ({
        binding: i,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.access === "read" ? "read-only-storage" : "storage" },
      }));
      entries.push({ binding: bindings.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: "uniform", hasDynamicOffset: true } });
      layout = this.device.createBindGroupLayout({ entries });
      this.layouts.set(key, layout);
    }
    return { key, layout };
  }

  /** The pipeline of a shader (`key` identifies its WGSL) under a layout. */
  pipeline(name: string, key: string, wgsl: () => string, layoutKey: string, layout: GPUBindGroupLayout): GPUComputePipeline {
    const full = `${key}|${layoutKey}`;
    let p = this.pipelines.get(full);
    if (!p) {
      const module = this.device.createShaderModule({ code: wgsl(), label: name });
      p = this.device.createComputePipeline({
        label: name,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: "main" },
      });
      this.pipelines.set(full, p);
      this.stats.pipelines++;
    }
    return p;
  }

  /**
   * The bind group of these buffers plus `uniformBytes` of `uniforms` at a
   * dynamic offset. `ids` gives each buffer's never-reused serial.
   */
  bindGroup(
    layoutKey: string,
    layout: GPUBindGroupLayout,
    bindings: readonly Binding[],
    ids: readonly number[],
    uniforms: GPUBuffer,
    uniformBytes: number,
  ): GPUBindGroup {
    const key = `${layoutKey}:${uniformBytes}:${ids.join(",")}`;
    let g = this.groups.get(key);
    if (g) {
      this.groups.delete(key); // re-insert: Map order is recency order
      this.groups.set(key, g);
      return g;
    }
    const entries: GPUBindGroupEntry[] = bindings.map((b, i) => ({ binding: i, resource: { buffer: b.buf } }));
    entries.push({ binding: bindings.length, resource: { buffer: uniforms, offset: 0, size: uniformBytes } });
    g = this.device.createBindGroup({ layout, entries });
    this.groups.set(key, g);
    this.stats.bindGroupsCreated++;
    if (this.groups.size > BIND_GROUP_CAP) this.groups.delete(this.groups.keys().next().value!);
    this.stats.bindGroups = this.groups.size;
    return g;
  }

  clear(): void {
    this.pipelines.clear();
    this.layouts.clear();
    this.groups.clear();
  }
}
