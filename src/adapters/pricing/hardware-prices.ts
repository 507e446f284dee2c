/**
 * Hourly prices of machines a team could train or serve a small fine-tuned LLM on: a CI-sized CPU VM, a
 * larger CPU machine, entry GPUs (T4, L4, A10/A10G), A100 and H100, from a hyperscaler (AWS) and GPU clouds
 * (Lambda, RunPod, Modal, CoreWeave). Used to turn measured machine-hours into dollars.
 *
 * Every price here was read from the page named in `source` (often a dated transcription of the vendor's
 * own pricing page; the note beside the entry says which), never estimated. Prices change, often by tens of
 * percent within months: treat each one as of its `asOf` date. Users override any entry, or add their own,
 * in their workspace config under `economics.hardware`.
 *
 * Compiled 2026-11-30.
 */

/** One machine's price per hour, with where it was read. */
export interface HardwarePrice {
  /** Stable id used in configs, e.g. `aws-g6.xlarge`, `lambda-1x-a10`, `cpu-2vcpu-aws-c7i.large`. Lowercase, [a-z0-9._-]. */
  id: string;
  /** Vendor name, e.g. `AWS`, `Lambda`. */
  vendor: string;
  /** What the machine is, e.g. `1× NVIDIA L4 24 GB, 4 vCPU, 16 GiB RAM`. */
  description: string;
  /** Accelerator model (`L4`, `A10G`, `H100 SXM`), or null for a CPU-only machine. */
  accelerator: string | null;
  acceleratorCount: number;
  /** GPU memory per accelerator in GB, or null. */
  acceleratorMemoryGb: number | null;
  vcpus: number | null;
  usdPerHour: number;
  /** `on-demand`, `spot`, `reserved-1y`, ... */
  terms: string;
  /** Region the price is for, when the source says. */
  region?: string;
  /** Where the price was read (URL). */
  source: string;
  /** The date on the source page (YYYY-MM-DD or YYYY-MM), or the date it was read when the page has none. */
  asOf: string;
}

/** When this table was compiled. */
export const HARDWARE_PRICES_COMPILED = '2026-11-30';

// Sources, read 2026-11-30:
// - FACTUALMINDS: blog post dated 2026-06-17 quoting the AWS on-demand rate card for us-east-1, Linux.
// - DOIT: blog post (no date shown) quoting AWS on-demand rates for US East (N. Virginia).
// - TECHBYTES: cheat sheet whose prices were "verified on May 7, 2026 from official vendor pricing".
// - LAMBDA_YML: transcription of https://lambda.ai/instances, read 2026-09-20 ("every price_text was found
//   verbatim in the fetched page text"); prices are per GPU per hour.
// - SILYBENCH_CSV: transcription of https://lambda.ai/pricing and https://www.runpod.io/pricing, checked 2026-09-25.
// - DATARECEIPTS_VENDORS: transcription of https://www.runpod.io/pricing, read 2026-11-09; per GPU per hour.
// - DATARECEIPTS_HYPERSCALERS: AWS list prices for us-east-1, retrieved 2026-11-09.
// - COREWEAVE_YML: transcription of https://www.coreweave.com/pricing, read 2026-09-20.
const FACTUALMINDS = 'https://www.factualminds.com/blog/amazon-ec2-on-demand-pricing-instance-families-2026/';
const DOIT = 'https://www.doit.com/blog/aws-ec2-pricing';
const TECHBYTES = 'https://techbytes.app/posts/serverless-gpu-pricing-matrix-modal-replicate-lambda-2026/';
const LAMBDA_YML = 'https://raw.githubusercontent.com/api-evangelist/lambda-labs/refs/heads/main/plans/lambda-labs-plans-pricing.yml';
const SILYBENCH_CSV = 'https://raw.githubusercontent.com/tgarg01/silybench-data/main/derived/csv/gpu_prices.csv';
const DATARECEIPTS_VENDORS = 'https://raw.githubusercontent.com/datareceipts/data-receipts/main/109-gpu-pricing/vendors.json';
const DATARECEIPTS_HYPERSCALERS = 'https://raw.githubusercontent.com/datareceipts/data-receipts/main/109-gpu-pricing/hyperscalers.json';
const COREWEAVE_YML = 'https://raw.githubusercontent.com/api-evangelist/coreweave/refs/heads/main/plans/coreweave-plans-pricing.yml';

export const HARDWARE_PRICES: readonly HardwarePrice[] = [
  // --- CPU only ---
  {
    id: 'cpu-2vcpu-aws-m7g.large',
    vendor: 'AWS',
    description: 'EC2 m7g.large: 2 vCPU (Graviton, arm64), Linux',
    accelerator: null,
    acceleratorCount: 0,
    acceleratorMemoryGb: null,
    vcpus: 2,
    usdPerHour: 0.0816,
    terms: 'on-demand',
    region: 'us-east-1',
    source: FACTUALMINDS,
    asOf: '2026-06-17',
  },
  {
    id: 'cpu-2vcpu-aws-m7i.large',
    vendor: 'AWS',
    description: 'EC2 m7i.large: 2 vCPU (Intel, x86-64), Linux',
    accelerator: null,
    acceleratorCount: 0,
    acceleratorMemoryGb: null,
    vcpus: 2,
    usdPerHour: 0.1008,
    terms: 'on-demand',
    region: 'us-east-1',
    source: DOIT,
    asOf: '2026-11-30',
  },
  {
    id: 'cpu-96vcpu-coreweave-intel-6342',
    vendor: 'CoreWeave',
    description: 'CPU node, Intel Ice Lake (6342) general purpose: 96 vCPU, 384 GB RAM',
    accelerator: null,
    acceleratorCount: 0,
    acceleratorMemoryGb: null,
    vcpus: 96,
    usdPerHour: 3.36,
    terms: 'on-demand',
    source: COREWEAVE_YML,
    asOf: '2026-09-20',
  },

  // --- Entry GPUs: T4, L4, A10 / A10G ---
  {
    id: 'modal-t4',
    vendor: 'Modal',
    description: '1× NVIDIA T4 16 GB, serverless, billed per second of use (CPU and memory billed separately)',
    accelerator: 'T4',
    acceleratorCount: 1,
    acceleratorMemoryGb: 16,
    vcpus: null,
    usdPerHour: 0.5904,
    terms: 'on-demand',
    source: TECHBYTES,
    asOf: '2026-05-07',
  },
  {
    id: 'modal-l4',
    vendor: 'Modal',
    description: '1× NVIDIA L4 24 GB, serverless, billed per second of use (CPU and memory billed separately)',
    accelerator: 'L4',
    acceleratorCount: 1,
    acceleratorMemoryGb: 24,
    vcpus: null,
    usdPerHour: 0.7992,
    terms: 'on-demand',
    source: TECHBYTES,
    asOf: '2026-05-07',
  },
  {
    id: 'aws-g5.xlarge',
    vendor: 'AWS',
    description: 'EC2 g5.xlarge: 1× NVIDIA A10G 24 GB, 4 vCPU, 16 GiB RAM, Linux',
    accelerator: 'A10G',
    acceleratorCount: 1,
    acceleratorMemoryGb: 24,
    vcpus: 4,
    usdPerHour: 1.006,
    terms: 'on-demand',
    region: 'us-east-1',
    source: FACTUALMINDS,
    asOf: '2026-06-17',
  },
  {
    id: 'lambda-1x-a10',
    vendor: 'Lambda',
    description: '1× NVIDIA A10 24 GB, 30 vCPU, 226 GiB RAM, 1.3 TiB SSD',
    accelerator: 'A10',
    acceleratorCount: 1,
    acceleratorMemoryGb: 24,
    vcpus: 30,
    usdPerHour: 1.29,
    terms: 'on-demand',
    source: LAMBDA_YML,
    asOf: '2026-09-20',
  },

  // --- A100 ---
  {
    id: 'runpod-a100-sxm-80gb-community',
    vendor: 'RunPod',
    description: '1× NVIDIA A100 SXM 80 GB, Community Cloud (third-party hosts, no datacentre SLA)',
    accelerator: 'A100 SXM',
    acceleratorCount: 1,
    acceleratorMemoryGb: 80,
    vcpus: null,
    usdPerHour: 1.39,
    terms: 'on-demand',
    source: DATARECEIPTS_VENDORS,
    asOf: '2026-11-09',
  },
  {
    id: 'runpod-a100-sxm-80gb-secure',
    vendor: 'RunPod',
    description: '1× NVIDIA A100 SXM 80 GB, Secure Cloud (RunPod-operated datacentres)',
    accelerator: 'A100 SXM',
    acceleratorCount: 1,
    acceleratorMemoryGb: 80,
    vcpus: null,
    usdPerHour: 1.79,
    terms: 'on-demand',
    source: DATARECEIPTS_VENDORS,
    asOf: '2026-11-09',
  },
  {
    id: 'lambda-1x-a100-sxm-40gb',
    vendor: 'Lambda',
    description: '1× NVIDIA A100 SXM 40 GB',
    accelerator: 'A100 SXM',
    acceleratorCount: 1,
    acceleratorMemoryGb: 40,
    vcpus: null,
    usdPerHour: 1.99,
    terms: 'on-demand',
    source: SILYBENCH_CSV,
    asOf: '2026-09-25',
  },
  {
    id: 'modal-a100-80gb',
    vendor: 'Modal',
    description: '1× NVIDIA A100 80 GB, serverless, billed per second of use (CPU and memory billed separately)',
    accelerator: 'A100',
    acceleratorCount: 1,
    acceleratorMemoryGb: 80,
    vcpus: null,
    usdPerHour: 2.4984,
    terms: 'on-demand',
    source: TECHBYTES,
    asOf: '2026-05-07',
  },

  // --- H100 ---
  {
    id: 'modal-h100',
    vendor: 'Modal',
    description: '1× NVIDIA H100 80 GB, serverless, billed per second of use (CPU and memory billed separately)',
    accelerator: 'H100',
    acceleratorCount: 1,
    acceleratorMemoryGb: 80,
    vcpus: null,
    usdPerHour: 3.9492,
    terms: 'on-demand',
    source: TECHBYTES,
    asOf: '2026-05-07',
  },
  {
    id: 'runpod-h100-sxm-secure',
    vendor: 'RunPod',
    description: '1× NVIDIA H100 SXM 80 GB, Secure Cloud (RunPod-operated datacentres)',
    accelerator: 'H100 SXM',
    acceleratorCount: 1,
    acceleratorMemoryGb: 80,
    vcpus: null,
    usdPerHour: 3.99,
    terms: 'on-demand',
    source: DATARECEIPTS_VENDORS,
    asOf: '2026-11-09',
  },
  {
    id: 'lambda-1x-h100-sxm',
    vendor: 'Lambda',
    description: '1× NVIDIA H100 SXM 80 GB, 26 vCPU, 225 GiB RAM, 2.75 TiB SSD',
    accelerator: 'H100 SXM',
    acceleratorCount: 1,
    acceleratorMemoryGb: 80,
    vcpus: 26,
    usdPerHour: 4.29,
    terms: 'on-demand',
    source: LAMBDA_YML,
    asOf: '2026-09-20',
  },
  {
    id: 'aws-p5.48xlarge',
    vendor: 'AWS',
    description: 'EC2 p5.48xlarge: 8× NVIDIA H100 SXM 80 GB (the whole instance; $6.88 per GPU-hour), Linux',
    accelerator: 'H100 SXM',
    acceleratorCount: 8,
    acceleratorMemoryGb: 80,
    vcpus: null,
    usdPerHour: 55.04,
    terms: 'on-demand',
    region: 'us-east-1',
    source: DATARECEIPTS_HYPERSCALERS,
    asOf: '2026-11-09',
  },
];
