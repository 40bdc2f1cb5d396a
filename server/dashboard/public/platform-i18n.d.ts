/** Types for platform-i18n.js (plain ES module served to the browser, imported by tests). */
export type PlatformLanguage = 'zh-CN' | 'en';
export declare const PLATFORM_LANGUAGES: readonly PlatformLanguage[];
export declare const platformDictionaries: Readonly<
  Record<PlatformLanguage, Readonly<Record<string, string>>>
>;
export declare function pickLanguage(search: string, stored: string | null): PlatformLanguage;
export declare function translate(
  lang: string,
  key: string,
  params?: Record<string, string | number>,
): string;
export declare function localName(
  name: string,
  nameEn: string | null | undefined,
  lang: string,
): string;
