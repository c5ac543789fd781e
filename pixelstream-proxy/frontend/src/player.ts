// GoAssist player page: Epic's published Pixel Streaming frontend (UE 5.5 libraries) with
// its stock UI. The only addition is the access token: a page opened as /?token=T connects
// its signalling WebSocket to the same origin with ?token=T, which the proxy checks before
// the upgrade. Everything else is Epic's default behaviour, including URL parameters
// (?AutoConnect=true, ?StreamerId=..., ?ss=...).
import { Config, PixelStreaming } from '@epicgames-ps/lib-pixelstreamingfrontend-ue5.5';
import {
    Application,
    PixelStreamingApplicationStyle
} from '@epicgames-ps/lib-pixelstreamingfrontend-ui-ue5.5';

declare global {
    interface Window {
        pixelStreaming: PixelStreaming;
    }
}

function signallingUrl(): string {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const url = new URL(scheme + location.host + '/');
    const token = new URLSearchParams(location.search).get('token');
    if (token) {
        url.searchParams.set('token', token);
    }
    return url.toString();
}

const style = new PixelStreamingApplicationStyle();
style.applyStyleSheet();

document.body.onload = () => {
    const config = new Config({
        useUrlParams: true,
        initialSettings: { ss: signallingUrl() }
    });
    const stream = new PixelStreaming(config);
    const application = new Application({
        stream,
        onColorModeChanged: (isLightMode: boolean) => style.setColorMode(isLightMode)
    });
    document.body.appendChild(application.rootElement);
    // Exposed for operators' console debugging and the end-to-end test (reads video stats).
    window.pixelStreaming = stream;
};
