// Reads a JSON array of strings on stdin and prints, for each, what Cartevo's server
// libraries say of it: [class-validator isEmail (validator.js isEmail, default options),
// validator.js isLength's count]. Used by the ignored test
// `validatorjs::tests::differential_against_validator_js` (see the README).
const { isEmail } = require('class-validator');
const isLength = require('validator/lib/isLength').default;

function length(s) {
  // isLength(s, {min: n, max: n}) holds for exactly one n.
  let lo = 0, hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (isLength(s, { min: 0, max: mid })) hi = mid; else lo = mid + 1;
  }
  return lo;
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const values = JSON.parse(input);
  process.stdout.write(JSON.stringify(values.map((s) => [isEmail(s), length(s)])));
});
