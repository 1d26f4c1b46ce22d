// The `.runbook` format: model, parse, serialize (pure code, no vscode, no I/O).

export * from './model';
export * from './log-model';
export { parseRunbook, type ParseOptions } from './parse';
export { serializeRunbook, serializeRunbookBytes, renderCellSource } from './serialize';
export { KNOWN_OPTIONS, knownOption, parseInfoString, renderInfoString, kindOfLanguage, checkOptions, retryOptionProblems, batchOptionProblems, optionDurationMs, MAX_RETRY_ATTEMPTS, MAX_RETRY_DELAY_MS, type RetryOptionValue, type BatchOptionValue } from './options';
export { parseRecordLine, recordJson, escapeJsonUnsafe, isOutput, renderOutput, fenceFor, groupDigits, OUTPUT_MARKER } from './output-block';
export { decodeUtf8Lossless, encodeUtf8Lossless } from './utf8';
export { cellSignature, outputUnchanged } from './signature';
export { cellStartLines, countLineBreaks } from './lines';
export { parseEstimate, formatDuration, compareWithEstimate, type EstimateParse, type EstimateVerdict } from './estimate';
export { appendLogEvent, attemptOf, runnableCell, LogPlacementError, type AppendContext } from './log-append';
export { parseLogSection, serializeLogSection, splitLogSection, isLogMarkerLine } from './log';
export { LOG_MARKER, EVENT_MARKER, LOG_PREAMBLE, LogRenderer, renderLogMarkdown, renderLogSection, summarizeRuns, eventLine, type RunSummary, type LogIssue } from './log-render';
export { HASH_HEX_DIGITS, shortHash, sourceHash, recordHash, bodyHash, eventHash } from './log-chain';
export { verifyRunbook, type VerifyResult, type VerifyOptions, type LogBreak, type BreakKind } from './verify';
export { outputSummary, OUTPUT_SUMMARY_PREFIX, commentJson } from './output-block';
export { parseWindow, windowPosition, windowStatusText, windowVerdict, describeWindow, type RunWindow, type WindowParse, type WindowPosition, type WindowVerdict } from './window';
export { parseNotifyTargets, WEBHOOK_URL_HELP, type NotifyTarget, type NotifyParse } from './notify-targets';
export { frontMatterProblems, frontMatterWindow, type FrontMatterProblem } from './front-matter';
