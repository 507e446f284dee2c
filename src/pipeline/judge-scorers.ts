/**
 * LLM judges, through the one provider interface: a rubric judge that rates one output from 1 to 5,
 * and a pairwise judge that compares two outputs for the same input in both orders to cancel
 * position bias. Both ask for JSON constrained by a schema the embedded llama.cpp grammar and
 * OpenAI's strict mode both accept (integer ratings as `enum`, since the grammar has no
 * `minimum`/`maximum`), and check the answer again on arrival.
 */
import { z } from 'zod';
import type { CallOptions, ChatProvider, ChatResult } from '../contracts/provider.ts';
import type { ChatMessage } from '../contracts/worker.ts';
import { ProviderError } from '../core/errors.ts';
import type { PairwiseWinner, ScoreResult, ScorerExample } from '../core/scorers.ts';

/** A 1–5 rating. */
export type Rating = 1 | 2 | 3 | 4 | 5;

const RATINGS = [1, 2, 3, 4, 5] as const;

/** The rubric judge's answer schema, with reasoning written before the rating. */
export function rubricJudgeSchema(explain = true): Record<string, unknown> {
  const score = { type: 'integer', enum: [...RATINGS] };
  return explain
    ? { type: 'object', properties: { reasoning: { type: 'string' }, score }, required: ['reasoning', 'score'], additionalProperties: false }
    : { type: 'object', properties: { score }, required: ['score'], additionalProperties: false };
}

/** The pairwise judge's answer schema: which of the two responses, as shown, is better. */
export function pairwiseJudgeSchema(explain = true): Record<string, unknown> {
  const verdict = { type: 'string', enum: ['first', 'second', 'tie'] };
  return explain
    ? { type: 'object', properties: { reasoning: { type: 'string' }, verdict }, required: ['reasoning', 'verdict'], additionalProperties: false }
    : { type: 'object', properties: { verdict }, required: ['verdict'], additionalProperties: false };
}

/** Settings shared by both judges. */
export interface JudgeOptions {
  provider: ChatProvider;
  /** The judge model; default the provider's. */
  model?: string;
  /** Ask for a short reasoning before the verdict (better verdicts, more tokens). Default true. */
  explain?: boolean;
  /** Most tokens per judge call; default 512. An answer cut off there is a `constraint-violated` ProviderError. */
  maxTokens?: number;
  /** Default 0 (greedy), so the same inputs get the same verdict. */
  temperature?: number;
}

/** Options of `rubricJudge`. */
export interface RubricJudgeOptions extends JudgeOptions {
  /** What a good answer is, in plain words; 1 means it fails the rubric, 5 that it fully meets it. */
  rubric: string;
  /** Ratings at or above this pass; default 4. */
  passRating?: Rating;
  /** Show the gold answer to the judge as a reference; default true (skipped when the gold answer is empty). */
  showReference?: boolean;
}

/** A rubric verdict: a `ScoreResult` whose score is (rating − 1) / 4, plus the judge's words and call. */
export interface RubricJudgement extends ScoreResult {
  rating: Rating;
  /** The judge's reasoning; empty when `explain` is off. */
  reasoning: string;
  /** The judge call: tokens, cost and latency. */
  call: ChatResult;
}

/** Rates one output; usable wherever an `AsyncScorer` is. */
export type RubricJudge = (output: string, gold: string, example: ScorerExample, options?: CallOptions) => Promise<RubricJudgement>;

/**
 * A judge that rates an output against a rubric from 1 to 5, normalized to a score in [0, 1]
 * ((rating − 1) / 4). An answer that is not the schema's JSON is a ProviderError with failure
 * `constraint-violated`, never a silent score.
 */
export function rubricJudge(options: RubricJudgeOptions): RubricJudge {
  if (options.rubric.trim() === '') throw new RangeError('the rubric must not be empty');
  const passRating = options.passRating ?? 4;
  const explain = options.explain ?? true;
  const answerSchema = z.object({ reasoning: explain ? z.string() : z.string().optional(), score: z.union(RATINGS.map((rating) => z.literal(rating))) });
  const system = [
    'You are a careful, impartial evaluator. Rate the response to the user input against the rubric, on a scale',
    'from 1 (fails the rubric) to 5 (fully meets it). Judge only what the rubric asks; ignore length and style unless it asks for them.',
    explain ? 'Answer with JSON: first a brief "reasoning", then the integer "score".' : 'Answer with JSON holding the integer "score".',
  ].join(' ');
  return async (output, gold, example, callOptions) => {
    const showReference = (options.showReference ?? true) && gold.trim() !== '';
    const user = [
      `Rubric:\n${options.rubric.trim()}`,
      `User input:\n${example.input}`,
      ...(showReference ? [`Reference answer (a correct answer, for guidance):\n${gold}`] : []),
      `Response to rate:\n${output}`,
    ].join('\n\n');
    const { answer, call } = await ask(options, [{ role: 'system', content: system }, { role: 'user', content: user }], rubricJudgeSchema(explain), 'rubric_rating', answerSchema, callOptions);
    const rating = answer.score;
    return { score: (rating - 1) / 4, pass: rating >= passRating, rating, reasoning: answer.reasoning ?? '', call, detail: `rated ${rating}/5` };
  };
}

/** Options of `pairwiseJudge`. */
export interface PairwiseJudgeOptions extends JudgeOptions {
  /** What makes one response better than another, in plain words. */
  criteria: string;
}

/** Two outputs for the same input. */
export interface PairwiseInput {
  input: string;
  /** Candidate a's output (e.g. the baseline). */
  a: string;
  /** Candidate b's output. */
  b: string;
  /** A gold answer shown to the judge as a reference, when there is one. */
  reference?: string;
}

/** A pairwise verdict after asking in both orders. */
export interface PairwiseJudgement {
  /** The winner when both orders agree; `tie` when they disagree (or both said tie). */
  winner: PairwiseWinner;
  /** Both orders gave the same verdict (a judge that always picks the first position is never consistent unless a ≡ b). */
  consistent: boolean;
  /** The verdict with a shown first, and with b shown first, each in a/b terms. */
  verdicts: { aFirst: PairwiseWinner; bFirst: PairwiseWinner };
  /** The two judge calls (a first, then b first): tokens, cost and latency. */
  calls: [ChatResult, ChatResult];
}

/** Compares two outputs; see `pairwiseJudge`. */
export type PairwiseJudge = (input: PairwiseInput, options?: CallOptions) => Promise<PairwiseJudgement>;

/**
 * A judge that compares two outputs for the same input. It asks twice, once with a shown first and
 * once with b shown first (the two calls run concurrently), and declares a winner only when both
 * orders agree; otherwise the result is a tie marked inconsistent, so a judge's position bias
 * turns into ties instead of wins. Ties are allowed answers.
 */
export function pairwiseJudge(options: PairwiseJudgeOptions): PairwiseJudge {
  if (options.criteria.trim() === '') throw new RangeError('the criteria must not be empty');
  const explain = options.explain ?? true;
  const answerSchema = z.object({ reasoning: explain ? z.string() : z.string().optional(), verdict: z.enum(['first', 'second', 'tie']) });
  const system = [
    'You are a careful, impartial evaluator. Compare two responses to the same user input by the criteria given.',
    'The order in which the responses are shown says nothing about their quality. Say "tie" when neither is better.',
    explain ? 'Answer with JSON: first a brief "reasoning", then the "verdict": "first", "second" or "tie".' : 'Answer with JSON holding the "verdict": "first", "second" or "tie".',
  ].join(' ');
  const messages = (input: PairwiseInput, first: string, second: string): ChatMessage[] => [
    { role: 'system', content: system },
    {
      role: 'user',
      content: [
        `Criteria:\n${options.criteria.trim()}`,
        `User input:\n${input.input}`,
        ...(input.reference !== undefined && input.reference.trim() !== '' ? [`Reference answer (a correct answer, for guidance):\n${input.reference}`] : []),
        `First response:\n${first}`,
        `Second response:\n${second}`,
      ].join('\n\n'),
    },
  ];
  const schema = pairwiseJudgeSchema(explain);
  return async (input, callOptions) => {
    const [aFirst, bFirst] = await Promise.all([
      ask(options, messages(input, input.a, input.b), schema, 'pairwise_verdict', answerSchema, callOptions),
      ask(options, messages(input, input.b, input.a), schema, 'pairwise_verdict', answerSchema, callOptions),
    ]);
    const verdicts = {
      aFirst: aFirst.answer.verdict === 'first' ? 'a' : aFirst.answer.verdict === 'second' ? 'b' : 'tie',
      bFirst: bFirst.answer.verdict === 'first' ? 'b' : bFirst.answer.verdict === 'second' ? 'a' : 'tie',
    } as const;
    const consistent = verdicts.aFirst === verdicts.bFirst;
    return { winner: consistent ? verdicts.aFirst : 'tie', consistent, verdicts, calls: [aFirst.call, bFirst.call] };
  };
}

/** One constrained judge call, its answer parsed and checked. */
async function ask<Answer>(
  options: JudgeOptions,
  messages: ChatMessage[],
  schema: Record<string, unknown>,
  name: string,
  answerSchema: z.ZodType<Answer>,
  callOptions: CallOptions | undefined,
): Promise<{ answer: Answer; call: ChatResult }> {
  const call = await options.provider.complete(
    {
      ...(options.model === undefined ? {} : { model: options.model }),
      messages,
      temperature: options.temperature ?? 0,
      maxTokens: options.maxTokens ?? 512,
      constraint: { kind: 'json-schema', schema, name },
    },
    callOptions,
  );
  const violated = (why: string): ProviderError =>
    new ProviderError(`the judge's answer ${why}: ${call.text.length > 200 ? `${call.text.slice(0, 199)}…` : call.text}`, {
      failure: 'constraint-violated',
      provider: options.provider.id,
      hint: call.finishReason === 'length' ? 'the answer was cut off: raise maxTokens or turn explain off' : undefined,
    });
  let value: unknown;
  try {
    value = JSON.parse(call.text);
  } catch {
    throw violated(call.finishReason === 'length' ? 'was cut off before the JSON ended' : 'is not JSON');
  }
  const parsed = answerSchema.safeParse(value);
  if (!parsed.success) throw violated(`does not match the schema (${z.prettifyError(parsed.error).replaceAll('\n', ' ')})`);
  return { answer: parsed.data, call };
}
