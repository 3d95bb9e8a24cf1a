import { logout } from "@/lib/handlers.mjs";

export const dynamic = "force-dynamic";
export const GET = (request: Request) => logout(request);
export const POST = (request: Request) => logout(request);
