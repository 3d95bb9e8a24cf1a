import { password } from "@/lib/handlers.mjs";

export const dynamic = "force-dynamic";
export const POST = (request: Request) => password(request);
