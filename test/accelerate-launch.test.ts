import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { accelerateConfig, prepareAccelerateLaunch } from '../src/pipeline/accelerate-launch.ts';
import { InvalidInputError } from '../src/core/errors.ts';

test('accelerate configs: one process, DDP and FSDP on GPUs, the CPU path; impossible combinations refused', () => {
  assert.deepEqual([accelerateConfig({ numProcesses: 1, strategy: 'ddp', cpu: false }).distributed_type, accelerateConfig({ numProcesses: 1, strategy: 'ddp', cpu: false }).use_cpu], ['NO', false]);
  assert.equal(accelerateConfig({ numProcesses: 1, strategy: 'ddp', cpu: true }).use_cpu, true);
  const ddp = accelerateConfig({ numProcesses: 4, strategy: 'ddp', cpu: false });
  assert.deepEqual([ddp.distributed_type, ddp.num_processes, ddp.gpu_ids], ['MULTI_GPU', 4, 'all']);
  const fsdp = accelerateConfig({ numProcesses: 8, strategy: 'fsdp', cpu: false, fsdpLayerClass: 'LlamaDecoderLayer' });
  assert.equal(fsdp.distributed_type, 'FSDP');
  assert.deepEqual(fsdp.fsdp_config, {
    fsdp_version: 2,
    fsdp_auto_wrap_policy: 'TRANSFORMER_BASED_WRAP',
    fsdp_transformer_layer_cls_to_wrap: 'LlamaDecoderLayer',
    fsdp_cpu_ram_efficient_loading: true,
    fsdp_offload_params: false,
    fsdp_reshard_after_forward: true,
    fsdp_state_dict_type: 'FULL_STATE_DICT',
  });
  assert.throws(() => accelerateConfig({ numProcesses: 2, strategy: 'ddp', cpu: true }), InvalidInputError);
  assert.throws(() => accelerateConfig({ numProcesses: 1, strategy: 'fsdp', cpu: true }), /FSDP shards parameters across GPUs/);
  assert.throws(() => accelerateConfig({ numProcesses: 0, strategy: 'ddp', cpu: false }), /positive integer/);
});

test('the written config quotes what PyYAML would read as a boolean, and the launcher runs the worker module', () => {
  const launch = prepareAccelerateLaunch(mkdtempSync(path.join(os.tmpdir(), 'understudy-accelerate-')), { numProcesses: 1, strategy: 'ddp', cpu: true });
  const text = readFileSync(launch.configFile, 'utf8');
  assert.match(text, /^mixed_precision: "no"$/m);
  assert.match(text, /^distributed_type: "NO"$/m);
  assert.deepEqual(launch.launcher, ['-m', 'accelerate.commands.launch', '--config_file', launch.configFile, '--quiet']);
  assert.equal(launch.description, 'accelerate launch (NO, 1 process, cpu)');
});
