/**
 * Redaction before anything is stored. Secrets always: API keys and bearer tokens that users paste into prompts.
 * Personal data on request (`gateway.redactPii`): e-mail addresses, payment card numbers (Luhn-checked), IBANs and
 * phone numbers, each replaced by a placeholder that keeps the text readable.
 */

const SECRET_PATTERNS: readonly RegExp[] = [
  /\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}\b/g,
  /\bBearer\s+[A-Za-z0-9._~+/-]{16,}=*/gi,
  /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g,
  /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/g,
];

export function redactSecrets(text: string): string {
  let result = text;
  for (const pattern of SECRET_PATTERNS) result = result.replace(pattern, '[REDACTED_SECRET]');
  return result;
}

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let index = 0; index < digits.length; index++) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

export function redactPii(text: string): string {
  return text
    .replace(/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, '[EMAIL]')
    .replace(/\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b/g, '[IBAN]')
    .replace(/\b(?:\d[ -]?){12,18}\d\b/g, (match) => (luhnValid(match.replace(/\D/g, '')) ? '[CARD]' : match))
    .replace(/(?<![\w])\+?\d[\d ().-]{7,}\d(?![\w])/g, (match) => (/^\d{9,15}$/.test(match.replace(/\D/g, '')) ? '[PHONE]' : match));
}

/** The redaction the gateway applies to stored text. */
export function createRedactor(options: { pii: boolean }): (text: string) => string {
  return options.pii ? (text) => redactPii(redactSecrets(text)) : redactSecrets;
}
