import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../src/core/errors.ts';
import { checkFineTuningExamples, estimateChatTokens, type FineTuningExample } from '../src/core/fine-tuning-jsonl.ts';
import { openAiFineTuningJsonl } from '../src/pipeline/export-formats.ts';

type Role = 'system' | 'user' | 'assistant';
const example = (prompt: [Role, string][], completion: [Role, string][] = [['assistant', 'answer']]): FineTuningExample => ({
  prompt: prompt.map(([role, content]) => ({ role, content })),
  completion: completion.map(([role, content]) => ({ role, content })),
});
const good = example([['system', 'be brief'], ['user', 'question']]);

test('checkFineTuningExamples: accepts what the services take, refuses the rest naming line and field', () => {
  const cases: { name: string; examples: FineTuningExample[]; alternating?: boolean; problem?: { line: number; field: string; message: RegExp } }[] = [
    { name: 'system, user, assistant', examples: [good, good] },
    { name: 'no system message', examples: [example([['user', 'question']])] },
    { name: 'no examples', examples: [] },
    { name: 'a multi-turn prompt, alternating', examples: [example([['system', 's'], ['user', 'a'], ['assistant', 'b'], ['user', 'c']])], alternating: true },
    { name: 'two user turns in a row, when alternation is not needed', examples: [example([['user', 'a'], ['user', 'b']])] },
    {
      name: 'empty content in the completion, counted after the prompt',
      examples: [good, good, example([['user', 'question']], [['assistant', '  ']])],
      problem: { line: 3, field: 'messages[1].content', message: /non-empty/ },
    },
    { name: 'empty content in the prompt', examples: [example([['system', ''], ['user', 'q']])], problem: { line: 1, field: 'messages[0].content', message: /non-empty/ } },
    { name: 'a system message after the first', examples: [good, example([['user', 'q'], ['system', 's'], ['user', 'q']])], problem: { line: 2, field: 'messages[1].role', message: /system message may only come first/ } },
    {
      name: 'two user turns in a row, when the service needs alternation',
      examples: [example([['system', 's'], ['user', 'a'], ['user', 'b']])],
      alternating: true,
      problem: { line: 1, field: 'messages[2].role', message: /alternate.*expected assistant, got user/ },
    },
    { name: 'starting with the assistant, when the service needs alternation', examples: [example([['assistant', 'a'], ['user', 'b']])], alternating: true, problem: { line: 1, field: 'messages[0].role', message: /expected user, got assistant/ } },
  ];
  for (const { name, examples, alternating, problem } of cases) {
    const check = (): void => checkFineTuningExamples(examples, { file: 'train.jsonl', ...(alternating === undefined ? {} : { alternating }) });
    if (problem === undefined) {
      assert.doesNotThrow(check, name);
      continue;
    }
    assert.throws(check, (error: unknown) => {
      assert.ok(error instanceof InvalidInputError, name);
      assert.deepEqual({ file: error.file, line: error.line, field: error.field }, { file: 'train.jsonl', line: problem.line, field: problem.field }, name);
      assert.match(error.message, problem.message, name);
      return true;
    }, name);
  }
});

test('estimateChatTokens: ~4 bytes per token, 4 per message, 3 to start the answer', () => {
  assert.equal(estimateChatTokens([]), 3);
  assert.equal(estimateChatTokens([{ content: 'abcd' }, { content: 'abcde' }]), 3 + (4 + 1) + (4 + 2));
  assert.equal(estimateChatTokens([{ content: 'é' }]), 3 + 4 + 1, 'bytes, not characters');
});

test('openAiFineTuningJsonl: weights false leaves the weight marker out of prompt assistant turns', () => {
  const record = { prompt: [{ role: 'user' as const, content: 'a' }, { role: 'assistant' as const, content: 'b' }, { role: 'user' as const, content: 'c' }], completion: [{ role: 'assistant' as const, content: 'd' }] };
  const withWeights = JSON.parse(openAiFineTuningJsonl([record])) as { messages: Record<string, unknown>[] };
  assert.deepEqual(withWeights.messages[1], { role: 'assistant', content: 'b', weight: 0 });
  const without = JSON.parse(openAiFineTuningJsonl([record], { weights: false })) as { messages: Record<string, unknown>[] };
  assert.deepEqual(without.messages.map((message) => Object.keys(message)), [['role', 'content'], ['role', 'content'], ['role', 'content'], ['role', 'content']]);
});
