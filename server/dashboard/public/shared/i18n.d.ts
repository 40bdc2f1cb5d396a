/** Types for i18n.js (plain ES module served to the browser, imported by tests). */
export type Language = 'zh-CN' | 'en';
export declare const DEFAULT_LANGUAGE: Language;
export declare const LANGUAGES: readonly Language[];
export declare const LANGUAGE_STORAGE_KEY: string;
export declare function normaliseLanguage(code: string | null | undefined): Language | null;
export declare function chooseLanguage(
  fromQuery: string | null | undefined,
  fromStorage: string | null | undefined,
): Language;
export declare function createTranslate(
  dictionaries: Readonly<Record<string, Readonly<Record<string, string>>>>,
): (language: string, key: string, params?: Record<string, string | number>) => string;
