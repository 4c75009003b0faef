// Prints the EMAILS table of src/validatorjs/tests.rs: each address below with the verdict
// class-validator 0.14.2's isEmail (validator.js 13.15.15) gives it. Run: node table.js

const long = (c, n) => c.repeat(n);
const cases = [
  // ordinary
  'a@example.com', 'john.doe@example.com', 'john+tag@example.co.uk', 'JOHN@EXAMPLE.COM',
  'user_name@example.org', "o'brien@example.ie", 'x@sub.domain.example.com', '1234@example.com',
  'a-b@ex-ample.com', 'first.last@example.museum', 'a@b.co', 'a@b.c', 'a@b', 'a@localhost',
  'plainaddress', '@example.com', 'a@', '', 'a@@example.com', 'a@b@example.com',
  'a..b@example.com', '.a@example.com', 'a.@example.com', 'a b@example.com', ' a@example.com',
  'a@example.com ', 'a@exa mple.com', 'a@example..com', 'a@.example.com', 'a@example.com.',
  'a@-example.com', 'a@example-.com', 'a@ex_ample.com', 'a@example.c_m', 'a@example.123',
  'a@123.com', 'a@example.c0m', 'a@example.xn--p1ai', 'a@xn--e1afmkfd.xn--p1ai', 'a@example.xn12',
  'a@example.xn', 'a@example.xn-', 'a@example.XN--P1AI', 'a@[127.0.0.1]', 'a@127.0.0.1',
  'a@[IPv6:::1]', 'a@[::1]', 'Ann <ann@example.com>', '<ann@example.com>', 'ann@example.com>',
  // special characters in local part
  "!#$%&'*+-/=?^_`{|}~@example.com", 'a(b)@example.com', 'a,b@example.com', 'a:b@example.com',
  'a;b@example.com', 'a<b@example.com', 'a[b]@example.com', 'a\\b@example.com', 'a"b@example.com',
  // quoted local parts
  '"a b"@example.com', '"a@b"@example.com', '"a\\"b"@example.com', '"a\\\\b"@example.com',
  '""@example.com', '"@example.com', '"a"b"@example.com', '"a\\\nb"@example.com', '"a\tb"@example.com',
  '"a\u0001b"@example.com', '"a\u0000b"@example.com', '"a\u007fb"@example.com', '"a\u0085b"@example.com',
  '"josé"@example.com', '"a\\"@example.com', '"a.b"@example.com', '"a..b"@example.com',
  '"\u{1D423}"@example.com', '"a\u00a0b"@example.com', '"a"@example.com', '"a"."b"@example.com',
  // unicode local parts
  'josé@example.com', 'jos\u0065\u0301@example.com', 'müller@example.de', 'иван@example.ru',
  '用户@例子.广告', '\u{1D423}\u{1D428}\u{1D421}\u{1D427}@example.com', 'a\u00a0b@example.com',
  'a\u00a1@example.com', 'a\u0080@example.com', 'a\u009f@example.com', 'a\ue000@example.com',
  'a\uf900@example.com', 'a\ufdd0@example.com', 'a\ufdf0@example.com', 'a\uffef@example.com',
  'a\ufff0@example.com', 'a\ufeff@example.com', 'a\u200b@example.com', 'ö.ü@example.com',
  'δοκιμή@παράδειγμα.δοκιμή', '我買@屋企.香港', 'θσερ@εχαμπλε.ψομ', 'χρήστης@παράδειγμα.ελ',
  'उपयोगकर्ता@उदाहरण.कॉम', 'ไทย@ไทย.ไทย', 'user@例子.中国', 'a@例子.中国', 'c@example.भारत',
  'd@example.comé', 'a@ｅｘａｍｐｌｅ.com', 'a@example.ｃｏｍ', 'a@example.𝐚𝐛', 'a@ex𝐚mple.com',
  'a@example.c', 'a@example.é', 'a@example.éé', 'a@example.©©', 'a@example.\u00a9x', 'a@example.a\u00a8',
  'a@example.\u00aa\u00aa', 'a@example.co\u00a0m', 'a@example.co\u3000m', 'a@ex\u3000ample.com',
  'a@exam\u00a0ple.com', 'a@exam\u00a1ple.com', 'a@exam\u0085ple.com', 'a@example.co\ufeffm',
  'a@example.co\ue000', 'a@example.co\uf900', 'a@exa\ue000mple.com', 'a@ex\u200bample.com',
  'a@münchen.de', 'a@xn--mnchen-3ya.de', 'a@EXAMPLE.COM', 'a@Example.Com', 'a@e.x',
  'a@1.2.3.4', 'a@example.1com', 'a@example.com1', 'a@example.c-m', 'a@example.-com', 'a@example.com-',
  'a@a-.com', 'a@--.com', 'a@a--b.com', 'a@ex!ample.com', 'a@ex%ample.com', 'a@ex/ample.com',
  // lengths
  long('a', 64) + '@example.com', long('a', 65) + '@example.com',
  long('é', 32) + '@example.com', long('é', 33) + '@example.com', 'é' + long('a', 63) + '@example.com',
  long('中', 21) + 'a@example.com', long('中', 22) + '@example.com',
  'a@' + long('b', 63) + '.com', 'a@' + long('b', 64) + '.com', 'a@example.' + long('c', 63), 'a@example.' + long('c', 64),
  'a@' + [long('b', 63), long('c', 63), long('d', 63), long('e', 57)].join('.') + '.com',
  'a@' + [long('b', 63), long('c', 63), long('d', 63), long('e', 58)].join('.') + '.com',
  long('a', 64) + '@' + [long('b', 63), long('c', 63), long('d', 58)].join('.') + '.com',
  long('a', 64) + '@' + [long('b', 63), long('c', 63), long('d', 59)].join('.') + '.com',
  long('a', 60) + '@' + [long('b', 63), long('c', 63), long('d', 60)].join('.') + '.co',
  'a@' + long('ü', 63) + '.com', 'a@' + long('ü', 64) + '.com', 'a@' + long('\u{1D41A}', 31) + 'x.com', 'a@' + long('\u{1D41A}', 32) + '.com',
  // case, digits, hyphens
  'A.B-C_D+E@Example-Domain.ORG', 'a@a.b.c.d.e.f.g.h.com', 'a@0.com', 'a@0-0.com', 'test@example.co.jp',
  'a@example.com\n', 'a\n@example.com', 'a@exa\nmple.com', 'a@example\t.com', 'a@\u00e9xample.com',
  'a@example.com\u0301', 'a@e\u0301xample.com', 'a@example.co\u0301m', 'josé@exa\u0301mple.com',
  'a@example.com\ufe0f', 'a✌️@example.com', 'a@✌️.com', 'a@example.✌',
  'email@example.web', 'email@example.name', 'firstname-lastname@example.com', 'email@[123.123.123.123]',
  '"email"@example.com', 'much."more\\ unusual"@example.com', 'very.unusual."@".unusual.com@example.com',
  'あいうえお@example.com', 'email@example.com (Joe Smith)', 'email@-example.com', 'email@111.222.333.44444',
  'Abc..123@example.com', 'just"not"right@example.com', 'this\\ is"really"not\\allowed@example.com',
  'a@b.cc', 'a@b.c-c', 'a@b.cc.', 'a@b..cc', 'x@x.xx', 'name@domain.with.many.labels.example',
  'a@', 'a@.', 'a@..', 'a@xn', 'a@xn--', 'a@é', 'a@é.', 'a@.é', 'a@a.\u{10ffff}', 'a@a.xné', 'a@a.xn--é',
  '"@example.com', '""@example.com', '"\\@example.com', '\\"@example.com', '"é@example.com', 'é"@example.com', '"a"@"b"@example.com',
  '_@example.com', '-@example.com', '~@example.com', '.@example.com', 'a@_example.com',
];
const { isEmail } = require('class-validator');
function lit(s) {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp >= 0x80 && /^[\p{L}\p{N}\p{So}]$/u.test(ch) && !(cp >= 0xff01 && cp <= 0xff5e)) out += ch;
    else out += '\\u{' + cp.toString(16) + '}';
  }
  return '"' + out + '"';
}
console.log(cases.map((s) => `    (${lit(s)}, ${isEmail(s)}),`).join('\n'));
