import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { InvalidInputError } from '../core/errors.ts';
import type { WorkerLaunch } from './train.ts';

export interface AccelerateOptions {
  /** Processes (one per GPU); 1 on a CPU machine. */
  numProcesses: number;
  /** `ddp`: a full copy of the model per GPU; `fsdp`: parameters sharded across GPUs (FSDP2). */
  strategy: 'ddp' | 'fsdp';
  /** Launch on the CPU (this machine, and CI): one process, no distributed backend. */
  cpu: boolean;
  /** Transformer layer class to wrap with FSDP (e.g. LlamaDecoderLayer); absent: accelerate infers it from the model. */
  fsdpLayerClass?: string;
}

/**
 * The accelerate config for a launch, as accelerate's own `accelerate config` writes it (LOCAL_MACHINE).
 * Mixed precision stays 'no' here: the worker sets bf16/fp16 itself from the hardware (`hardware.py`).
 */
export function accelerateConfig(options: AccelerateOptions): Record<string, unknown> {
  if (!Number.isInteger(options.numProcesses) || options.numProcesses < 1) {
    throw new InvalidInputError(`--num-processes must be a positive integer, got ${options.numProcesses}`, { field: '--num-processes' });
  }
  if (options.cpu && options.numProcesses > 1) {
    throw new InvalidInputError('several processes need GPUs (one each); on the CPU use --num-processes 1', { field: '--num-processes' });
  }
  if (options.cpu && options.strategy === 'fsdp') {
    throw new InvalidInputError('FSDP shards parameters across GPUs; on the CPU use --distributed ddp', { field: '--distributed' });
  }
  const base = {
    compute_environment: 'LOCAL_MACHINE',
    debug: false,
    machine_rank: 0,
    main_training_function: 'main',
    mixed_precision: 'no',
    num_machines: 1,
    num_processes: options.numProcesses,
    rdzv_backend: 'static',
    same_network: true,
    use_cpu: options.cpu,
  };
  if (options.cpu || options.numProcesses === 1) return { ...base, distributed_type: 'NO' };
  if (options.strategy === 'ddp') return { ...base, distributed_type: 'MULTI_GPU', gpu_ids: 'all' };
  return {
    ...base,
    distributed_type: 'FSDP',
    gpu_ids: 'all',
    fsdp_config: {
      fsdp_version: 2,
      fsdp_auto_wrap_policy: 'TRANSFORMER_BASED_WRAP',
      ...(options.fsdpLayerClass === undefined ? {} : { fsdp_transformer_layer_cls_to_wrap: options.fsdpLayerClass }),
      fsdp_cpu_ram_efficient_loading: true,
      fsdp_offload_params: false,
      fsdp_reshard_after_forward: true,
      // The adapter is saved whole on rank 0, so the GGUF export reads ordinary PEFT files.
      fsdp_state_dict_type: 'FULL_STATE_DICT',
    },
  };
}

/**
 * Write the config (atomically) and return the launcher that runs the worker module under `accelerate launch`.
 * YAML 1.1, because accelerate reads it with PyYAML, to which a bare `no` or `NO` is the boolean false (so
 * `mixed_precision: no` broke the launch).
 */
export function prepareAccelerateLaunch(directory: string, options: AccelerateOptions): WorkerLaunch & { configFile: string; config: Record<string, unknown> } {
  const config = accelerateConfig(options);
  mkdirSync(directory, { recursive: true });
  const configFile = path.join(directory, 'accelerate-config.yaml');
  const temporary = `${configFile}.tmp-${process.pid}`;
  writeFileSync(temporary, `# Written by understudy train --accelerate; launch: accelerate launch --config_file ${configFile} -m understudy_worker train-sft --spec <spec>\n${stringify(config, { version: '1.1' })}`);
  renameSync(temporary, configFile);
  const kind = String(config.distributed_type);
  return {
    configFile,
    config,
    launcher: ['-m', 'accelerate.commands.launch', '--config_file', configFile, '--quiet'],
    description: `accelerate launch (${kind}, ${options.numProcesses} process${options.numProcesses === 1 ? '' : 'es'}${options.cpu ? ', cpu' : ''})`,
  };
}
