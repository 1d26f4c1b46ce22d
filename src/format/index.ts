// The `.runbook` format: model, parse, serialize (pure code, no vscode, no I/O).

export * from './model';
export * from './log-model';
export { appendLogEvent, attemptOf } from './log';
export { parseRunbook, type ParseOptions } from './parse';
export { serializeRunbook, serializeRunbookBytes, renderCellSource } from './serialize';
export { KNOWN_OPTIONS, knownOption, parseInfoString, renderInfoString, kindOfLanguage, checkOptions } from './options';
export { parseRecordLine, recordJson, escapeJsonUnsafe, isOutput, renderOutput, fenceFor, groupDigits, OUTPUT_MARKER } from './output-block';
export { decodeUtf8Lossless, encodeUtf8Lossless } from './utf8';
export { cellSignature, outputUnchanged } from './signature';
export { cellStartLines, countLineBreaks } from './lines';
