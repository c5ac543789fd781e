// Build rules for the GoAssistLiveLink runtime module (UE 5.5+).
using System.IO;
using UnrealBuildTool;

public class GoAssistLiveLink : ModuleRules
{
	public GoAssistLiveLink(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		CppStandard = CppStandardVersion.Cpp20;

		PublicDependencyModuleNames.AddRange(new string[]
		{
			"Core", "CoreUObject", "Engine", "LiveLinkInterface",
		});
		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"LiveLink", "Networking", "Sockets",
		});

		// Pixel Streaming 2 is optional: with it, the received voice can be mixed into the
		// stream (IPixelStreaming2Module::CreateAudioProducer). Without it the plugin builds
		// and runs without audio output.
		string PixelStreaming2Dir = Path.Combine(EngineDirectory, "Plugins", "Media", "PixelStreaming2");
		bool bWithPixelStreaming2 = Directory.Exists(PixelStreaming2Dir);
		if (bWithPixelStreaming2)
		{
			PrivateDependencyModuleNames.Add("PixelStreaming2");
		}
		PrivateDefinitions.Add("WITH_GOASSIST_PIXELSTREAMING2=" + (bWithPixelStreaming2 ? "1" : "0"));
	}
}
