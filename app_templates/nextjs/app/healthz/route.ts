import { healthz } from "@/lib/handlers.mjs";

export const dynamic = "force-dynamic";
export const GET = () => healthz();
