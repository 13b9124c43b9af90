// govnode public portal: verifies a record's proof bundle in the browser
// with the Go verifier compiled to WebAssembly (verifier.wasm, loaded by
// wasm_exec.js). Everything shown comes from the verifier's report; data
// is only ever put in the page as text (textContent), never as markup.
'use strict';

(function () {
  // Largest bundle file read (node/portal MaxBundleBytes, the verifier's
  // lightclient.MaxBundleBytes).
  const MAX_BUNDLE_BYTES = 16 << 20;
  // exec.ValidID: 1..128 of a-z 0-9 . _ -, starting with a letter or digit.
  const ID_RE = /^[a-z0-9][a-z0-9._-]{0,127}$/;
  const HASH_RE = /^[0-9a-f]{64}$/;
  const PIN_KEY = 'govnode.pinnedGenesis';
  const LANG_KEY = 'govnode.lang';

  // Every string of the page, in one table: English and Chinese.
  const STRINGS = {
    en: {
      title: 'Verify a public record',
      intro: 'Every check runs in this browser: the page verifies each proof against the chain\'s genesis hash, trusting no node, not even this one.',
      genesisTitle: 'Genesis hash',
      nodeGenesis: 'Reported by this node',
      linkGenesis: 'Named by the link',
      pinnedGenesis: 'Pinned in this browser',
      usedGenesis: 'Verification uses',
      none: '(none)',
      srcPinned: '(pinned)',
      srcLink: '(from the link)',
      srcNode: '(reported by this node: pin a hash from a source you trust)',
      pinLabel: 'Pin a genesis hash (64 hex digits, from a source you trust):',
      pin: 'Pin',
      pinNode: 'Pin this node\'s hash',
      unpin: 'Unpin',
      badPin: 'A genesis hash is 64 hexadecimal digits.',
      warnPinnedNode: 'Warning: the genesis hash you pinned differs from the one this node reports. This node may serve another chain, or be tampered with. Verification uses your pinned hash.',
      warnLinkNode: 'Warning: the link names a genesis hash that differs from the one this node reports. Verification uses the link\'s hash.',
      warnLinkPinned: 'Warning: the link names a genesis hash that differs from your pinned one. Verification uses your pinned hash.',
      inputTitle: 'Record',
      recordId: 'Record ID',
      verify: 'Verify',
      dropLabel: '…or drop a bundle file here (govnode query record ID --bundle FILE), or choose one:',
      dropHint: 'The file is read in this browser and never uploaded.',
      loadingVerifier: 'Loading the verifier…',
      verifierFailed: 'The verifier could not be loaded: {0}',
      fetching: 'Fetching the bundle of {0} from this node…',
      reading: 'Reading {0}…',
      verifying: 'Verifying…',
      done: 'Done.',
      badId: 'A record ID is 1 to 128 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit.',
      notFound: 'This node knows no record {0}.',
      rateLimited: 'Too many requests from your address: retry in {0} s.',
      busy: 'The node is busy: retry in a moment.',
      fetchFailed: 'The node could not give the bundle ({0}): {1}',
      tooLarge: 'The file is {0} bytes, more than the {1} this page reads.',
      readFailed: 'The file could not be read: {0}',
      verified: 'Verified against {0} validators at height {1}',
      verifiedSets: ' (following {0} validator-set changes since genesis)',
      failed: 'Failed: this bundle does not prove the record',
      checkedWith: 'Checked against genesis {0}, chain {1}.',
      shareLink: 'Verification link (print it as the QR code beside):',
      download: 'Download the bundle',
      recordTitle: 'Record',
      fId: 'ID', fType: 'Type', fSubject: 'Subject', fHolder: 'Holder', fIssuer: 'Issuing department',
      fStatus: 'Status', fVersion: 'Versions', fErased: 'Personal data erased at height', fHeight: 'Proven at height',
      versionsTitle: 'History',
      vHead: 'Version {0} · {1}',
      vBy: 'By {0} ({1}) at {2} UTC, height {3}',
      vReason: 'Reason: {0}',
      vHolder: 'Holder: {0}',
      vContentType: 'Content type: {0}',
      vContentHash: 'Content hash: {0}',
      vTx: 'Transaction: {0}',
      vContent: 'Public content:',
      vBinary: '{0} bytes of binary content',
      vNoContent: 'Content not public: only its hash is on chain.',
      vMissing: 'Version {0}: not verified (see the failures above)',
      accessTitle: 'Access log',
      accessEmpty: 'No access to this record is logged.',
      colSeq: '#', colTime: 'Time (UTC)', colAccessor: 'Accessor', colDept: 'Department', colPurpose: 'Purpose',
      colLegal: 'Legal basis', colGrant: 'Grant', colChannel: 'Channel', colHeight: 'Height',
      footer: 'govnode public portal · read-only · nothing here is loaded from another site',
    },
    zh: {
      title: '公共记录验证',
      intro: '所有验证都在本浏览器中进行：页面根据链的创世哈希逐一核验每个证明，不信任任何节点，包括本节点。',
      genesisTitle: '创世哈希',
      nodeGenesis: '本节点报告的',
      linkGenesis: '链接中给出的',
      pinnedGenesis: '本浏览器中固定的',
      usedGenesis: '验证使用',
      none: '（无）',
      srcPinned: '（已固定）',
      srcLink: '（来自链接）',
      srcNode: '（本节点报告的：请固定一个来自可信来源的哈希）',
      pinLabel: '固定创世哈希（64 位十六进制，来自您信任的来源）：',
      pin: '固定',
      pinNode: '固定本节点的哈希',
      unpin: '取消固定',
      badPin: '创世哈希应为 64 位十六进制数字。',
      warnPinnedNode: '警告：您固定的创世哈希与本节点报告的不同。本节点可能服务于另一条链，或已被篡改。验证使用您固定的哈希。',
      warnLinkNode: '警告：链接中的创世哈希与本节点报告的不同。验证使用链接中的哈希。',
      warnLinkPinned: '警告：链接中的创世哈希与您固定的不同。验证使用您固定的哈希。',
      inputTitle: '记录',
      recordId: '记录编号',
      verify: '验证',
      dropLabel: '……或将证明包文件拖放到此处（govnode query record ID --bundle FILE），或选择文件：',
      dropHint: '文件只在本浏览器中读取，不会上传。',
      loadingVerifier: '正在加载验证程序……',
      verifierFailed: '无法加载验证程序：{0}',
      fetching: '正在从本节点获取 {0} 的证明包……',
      reading: '正在读取 {0}……',
      verifying: '正在验证……',
      done: '完成。',
      badId: '记录编号为 1 至 128 个小写字母、数字、“.”、“_”或“-”，以字母或数字开头。',
      notFound: '本节点没有记录 {0}。',
      rateLimited: '来自您地址的请求过多：请在 {0} 秒后重试。',
      busy: '节点繁忙：请稍后重试。',
      fetchFailed: '节点无法提供证明包（{0}）：{1}',
      tooLarge: '文件大小为 {0} 字节，超过本页面可读取的 {1} 字节。',
      readFailed: '无法读取文件：{0}',
      verified: '已验证：依据高度 {1} 的 {0} 个验证者',
      verifiedSets: '（自创世以来跟随了 {0} 次验证者集合变更）',
      failed: '验证失败：此证明包不能证明该记录',
      checkedWith: '依据创世哈希 {0}，链 {1}。',
      shareLink: '验证链接（可将旁边的二维码打印在证书上）：',
      download: '下载证明包',
      recordTitle: '记录',
      fId: '编号', fType: '类型', fSubject: '主体', fHolder: '持有人', fIssuer: '签发部门',
      fStatus: '状态', fVersion: '版本数', fErased: '个人数据删除于高度', fHeight: '证明所在高度',
      versionsTitle: '变更历史',
      vHead: '第 {0} 版 · {1}',
      vBy: '由 {0}（{1}）于 {2} UTC 提交，高度 {3}',
      vReason: '原因：{0}',
      vHolder: '持有人：{0}',
      vContentType: '内容类型：{0}',
      vContentHash: '内容哈希：{0}',
      vTx: '交易：{0}',
      vContent: '公开内容：',
      vBinary: '{0} 字节的二进制内容',
      vNoContent: '内容不公开：链上只有其哈希。',
      vMissing: '第 {0} 版：未通过验证（见上方失败原因）',
      accessTitle: '访问日志',
      accessEmpty: '此记录没有访问记录。',
      colSeq: '序号', colTime: '时间（UTC）', colAccessor: '访问者', colDept: '部门', colPurpose: '目的',
      colLegal: '法律依据', colGrant: '授权', colChannel: '渠道', colHeight: '高度',
      footer: 'govnode 公共门户 · 只读 · 本页不从其他网站加载任何内容',
    },
  };

  const $ = (id) => document.getElementById(id);
  let lang = 'en';
  let nodeGenesis = '';
  let linkGenesis = '';
  let lastReport = null; // re-rendered on a language switch
  let lastStatus = null; // [key, args, isError]
  let verifierReady = null;

  function t(key, ...args) {
    const s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
    return s.replace(/\{(\d+)\}/g, (_, i) => String(args[Number(i)]));
  }

  function pickLang() {
    let l = null;
    try { l = localStorage.getItem(LANG_KEY); } catch (e) { /* storage off */ }
    if (l !== 'en' && l !== 'zh') {
      l = (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
    }
    return l;
  }

  function setLang(l, remember) {
    lang = l;
    if (remember) {
      try { localStorage.setItem(LANG_KEY, l); } catch (e) { /* storage off */ }
    }
    document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
    document.title = 'govnode · ' + t('title');
    for (const el of document.querySelectorAll('[data-i18n]')) {
      el.textContent = t(el.dataset.i18n);
    }
    $('lang-en').setAttribute('aria-pressed', String(l === 'en'));
    $('lang-zh').setAttribute('aria-pressed', String(l === 'zh'));
    showGenesis();
    if (lastStatus) status(lastStatus[0], lastStatus[2], ...lastStatus[1]);
    if (lastReport) render(lastReport.report, lastReport.id);
  }

  function status(key, isError, ...args) {
    lastStatus = [key, args, isError];
    const el = $('status');
    el.textContent = key ? t(key, ...args) : '';
    el.classList.toggle('error', !!isError);
  }

  // Genesis hashes: the pinned one (localStorage) first, then the link's,
  // then the node's.
  function pinned() {
    try {
      const p = localStorage.getItem(PIN_KEY) || '';
      return HASH_RE.test(p) ? p : '';
    } catch (e) {
      return '';
    }
  }

  function usedGenesis() {
    const p = pinned();
    if (p) return [p, 'srcPinned'];
    if (linkGenesis) return [linkGenesis, 'srcLink'];
    return [nodeGenesis, 'srcNode'];
  }

  function showGenesis() {
    const p = pinned();
    $('node-genesis').textContent = nodeGenesis || t('none');
    $('pinned-genesis').textContent = p || t('none');
    $('link-genesis').textContent = linkGenesis;
    $('link-genesis-label').hidden = !linkGenesis;
    $('link-genesis-row').hidden = !linkGenesis;
    const [used, src] = usedGenesis();
    $('used-genesis').textContent = used || t('none');
    $('used-genesis-source').textContent = t(src);
    const warns = [];
    if (p && nodeGenesis && p !== nodeGenesis) warns.push('warnPinnedNode');
    if (p && linkGenesis && p !== linkGenesis) warns.push('warnLinkPinned');
    if (!p && linkGenesis && nodeGenesis && linkGenesis !== nodeGenesis) warns.push('warnLinkNode');
    const w = $('genesis-warning');
    w.replaceChildren(...warns.map((k) => el('p', null, t(k))));
    w.hidden = warns.length === 0;
  }

  function pin(h) {
    h = (h || '').trim().toLowerCase();
    if (!HASH_RE.test(h)) {
      status('badPin', true);
      return;
    }
    try { localStorage.setItem(PIN_KEY, h); } catch (e) { /* storage off */ }
    status('', false);
    showGenesis();
  }

  // The verifier: verifier.wasm run by wasm_exec.js's Go class; its main
  // sets globalThis.govnodeVerify and calls govnodeVerifierReady.
  function loadVerifier() {
    verifierReady = new Promise((resolve, reject) => {
      globalThis.govnodeVerifierReady = resolve;
      const go = new Go();
      // Streaming compiles while the bytes arrive; a browser without it
      // compiles the whole file.
      const compiled = WebAssembly.instantiateStreaming
        ? WebAssembly.instantiateStreaming(fetch('verifier.wasm'), go.importObject)
        : fetch('verifier.wasm').then((r) => r.arrayBuffer()).then((b) => WebAssembly.instantiate(b, go.importObject));
      compiled.then((res) => { go.run(res.instance); }).catch(reject);
    });
    return verifierReady;
  }

  async function verifyBytes(bytes, id) {
    status('verifying', false);
    try {
      await verifierReady;
    } catch (e) {
      status('verifierFailed', true, String(e));
      return;
    }
    const [gh] = usedGenesis();
    let report;
    try {
      // A bundle fetched for an id must be that record's.
      report = JSON.parse(id ? globalThis.govnodeVerify(bytes, gh, id) : globalThis.govnodeVerify(bytes, gh));
    } catch (e) {
      report = { ok: false, failures: [{ part: 'verifier', reason: String(e) }] };
    }
    lastReport = { report: report, id: id };
    render(report, id);
    status('done', false);
  }

  async function verifyID(id) {
    id = id.trim();
    if (!ID_RE.test(id)) {
      status('badId', true);
      return;
    }
    status('fetching', false, id);
    let resp;
    try {
      resp = await fetch('bundle/' + encodeURIComponent(id), { cache: 'no-store' });
    } catch (e) {
      status('fetchFailed', true, '-', String(e));
      return;
    }
    if (!resp.ok) {
      const text = (await resp.text()).trim();
      if (resp.status === 404) status('notFound', true, id);
      else if (resp.status === 400) status('badId', true);
      else if (resp.status === 429) status('rateLimited', true, resp.headers.get('Retry-After') || '1');
      else if (resp.status === 503) status('busy', true);
      else status('fetchFailed', true, resp.status, text);
      return;
    }
    const bytes = new Uint8Array(await resp.arrayBuffer());
    const [gh] = usedGenesis();
    history.replaceState(null, '', '?' + new URLSearchParams({ id: id, genesis: gh }).toString());
    await verifyBytes(bytes, id);
  }

  function verifyFile(file) {
    if (!file) return;
    if (file.size > MAX_BUNDLE_BYTES) {
      status('tooLarge', true, file.size, MAX_BUNDLE_BYTES);
      return;
    }
    status('reading', false, file.name);
    const fr = new FileReader();
    fr.onerror = () => status('readFailed', true, String(fr.error));
    fr.onload = () => { verifyBytes(new Uint8Array(fr.result), null); };
    fr.readAsArrayBuffer(file);
  }

  // Rendering: elements and text nodes only.
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function utc(ms) {
    if (!ms) return '-';
    return new Date(Number(ms)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
  }

  function b64bytes(s) {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function contentNode(b64) {
    let bytes;
    try { bytes = b64bytes(b64); } catch (e) { return el('p', 'hint', t('vBinary', '?')); }
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      if (!/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text)) return el('pre', 'content', text);
    } catch (e) { /* not UTF-8 */ }
    return el('p', 'hint', t('vBinary', bytes.length));
  }

  function render(r, id) {
    $('result').hidden = false;
    const ok = r.ok === true && !(r.failures && r.failures.length);
    const v = $('verdict');
    v.className = 'verdict ' + (ok ? 'ok' : 'fail');
    if (ok) {
      const vals = r.validators || {};
      let s = t('verified', (vals.keys || []).length, vals.height || r.height || 0);
      if (vals.sets_followed) s += t('verifiedSets', vals.sets_followed);
      v.textContent = '✔ ' + s;
    } else {
      v.textContent = '✘ ' + t('failed');
    }
    const fl = $('failures');
    fl.replaceChildren();
    for (const f of r.failures || []) {
      const li = el('li', 'failure');
      li.append(el('strong', 'part', f.part), document.createTextNode(': '), el('span', 'reason', f.reason));
      fl.append(li);
    }
    $('result-genesis').textContent = r.genesis_hash ? t('checkedWith', r.genesis_hash, r.chain_id || '-') : '';

    // The link and QR code, for a record fetched by id that verified.
    const rid = id || (r.record && r.record.id) || '';
    $('share').hidden = !(ok && rid && ID_RE.test(rid));
    if (ok && rid && ID_RE.test(rid)) {
      const [gh] = usedGenesis();
      const link = new URL('./?' + new URLSearchParams({ id: rid, genesis: r.genesis_hash || gh }).toString(), location.href).href;
      $('verify-link').href = link;
      $('verify-link').textContent = link;
      $('qr').src = 'qr/' + encodeURIComponent(rid) + '.png';
      $('qr').alt = link;
      $('download').href = 'bundle/' + encodeURIComponent(rid);
      $('download').setAttribute('download', rid + '.bundle');
    }

    const rec = r.record || {};
    const dl = $('record');
    dl.replaceChildren();
    const field = (k, val) => {
      if (val === undefined || val === null || val === '' || val === 0) return;
      dl.append(el('dt', null, t(k)), el('dd', null, val));
    };
    field('fId', rec.id);
    field('fType', rec.record_type);
    field('fSubject', rec.subject_id);
    field('fHolder', rec.holder_id);
    field('fIssuer', rec.issuer_department_id);
    field('fStatus', rec.status);
    field('fVersion', rec.version);
    field('fErased', rec.erased_height);
    field('fHeight', r.height);

    const tl = $('timeline');
    tl.replaceChildren();
    // Versions 1..n in order; one that did not verify is marked, not
    // left out.
    const byNum = new Map((r.versions || []).map((v) => [Number(v.version), v]));
    const count = Math.min(Math.max(Number(rec.version) || 0, ...byNum.keys(), 0), 4096);
    for (let num = 1; num <= count; num++) {
      const ver = byNum.get(num);
      if (!ver) {
        tl.append(el('li', 'version missing', t('vMissing', num)));
        continue;
      }
      const li = el('li', 'version');
      li.append(el('h3', null, t('vHead', ver.version, ver.action || '-')));
      li.append(el('p', 'by', t('vBy', ver.author_id || '-', ver.author_department_id || '-', utc(ver.time_unix_ms), ver.height)));
      if (ver.reason) li.append(el('p', null, t('vReason', ver.reason)));
      if (ver.holder_id) li.append(el('p', null, t('vHolder', ver.holder_id)));
      if (ver.content_type) li.append(el('p', null, t('vContentType', ver.content_type)));
      if (ver.content_hash) li.append(el('p', 'hash', t('vContentHash', ver.content_hash)));
      if (ver.tx_hash) li.append(el('p', 'hash', t('vTx', ver.tx_hash)));
      if (ver.content) {
        li.append(el('p', null, t('vContent')), contentNode(ver.content));
      } else {
        li.append(el('p', 'hint', t('vNoContent')));
      }
      tl.append(li);
    }

    const body = $('access').tBodies[0];
    body.replaceChildren();
    const acc = r.access || [];
    $('access').hidden = acc.length === 0;
    $('access-empty').hidden = acc.length !== 0;
    for (const a of acc) {
      const tr = el('tr');
      for (const c of [a.seq, utc(a.time_unix_ms), a.accessor_id, a.department_id, a.purpose, a.legal_basis, a.grant_id || '-', a.channel || '-', a.height]) {
        tr.append(el('td', null, c === undefined || c === null || c === '' ? '-' : c));
      }
      body.append(tr);
    }
  }

  async function init() {
    lang = pickLang();
    const params = new URLSearchParams(location.search);
    const g = (params.get('genesis') || '').toLowerCase();
    if (HASH_RE.test(g)) linkGenesis = g;
    setLang(lang, false);

    $('lang-en').addEventListener('click', () => setLang('en', true));
    $('lang-zh').addEventListener('click', () => setLang('zh', true));
    $('pin-form').addEventListener('submit', (e) => { e.preventDefault(); pin($('pin-input').value); });
    $('pin-node').addEventListener('click', () => pin(nodeGenesis));
    $('unpin').addEventListener('click', () => {
      try { localStorage.removeItem(PIN_KEY); } catch (e) { /* storage off */ }
      showGenesis();
    });
    $('id-form').addEventListener('submit', (e) => { e.preventDefault(); verifyID($('record-id').value); });
    $('bundle-file').addEventListener('change', (e) => verifyFile(e.target.files[0]));
    const drop = $('drop');
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      verifyFile(e.dataTransfer.files[0]);
    });

    status('loadingVerifier', false);
    const loading = loadVerifier();
    try {
      const resp = await fetch('genesis-hash', { cache: 'no-store' });
      if (resp.ok) nodeGenesis = (await resp.text()).trim().toLowerCase();
    } catch (e) { /* shown as none */ }
    showGenesis();
    try {
      await loading;
    } catch (e) {
      status('verifierFailed', true, String(e));
      return;
    }
    status('', false);
    document.body.dataset.verifier = 'ready';
    const id = params.get('id');
    if (id) {
      $('record-id').value = id;
      verifyID(id);
    }
  }

  init();
})();
